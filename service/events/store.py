"""Event tracking: recording, listing and per-type statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count, Max, Min
from tortoise.queryset import QuerySet

from service.idempotency.store import IdempotencyStore, Scope
from service.identity.tokens import Identity, user_of
from service.models import Event


@dataclass(frozen=True, slots=True)
class EventFilter:
    event_type: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    def apply(self, query: QuerySet[Event]) -> QuerySet[Event]:
        # Both ends are inclusive (SPEC §0).
        if self.event_type is not None:
            query = query.filter(event_type=self.event_type)
        if self.start_time is not None:
            query = query.filter(ts_utc__gte=self.start_time)
        if self.end_time is not None:
            query = query.filter(ts_utc__lte=self.end_time)
        return query


@dataclass(frozen=True, slots=True)
class EventRecorded:
    event_id: int
    replayed: bool  # answered from the Idempotency-Key store; nothing was recorded this time


# A client's event in one statement that also proves its token: the row is written only when the
# token's user exists and has not logged out since the token was issued (the wallet's statements
# check the same), so /event costs one round trip and no ORM query building. Per dialect only
# in its placeholders and casts.
_INSERT_USER_EVENT = {
    "postgres": (
        'INSERT INTO "events" ("user_id", "event_type", "ts_utc", "meta") '
        'SELECT "user_id", $2::varchar, $3::timestamptz, $4::text FROM "users" '
        'WHERE "user_id" = $1::varchar AND "token_version" <= $5::bigint RETURNING "id"'
    ),
    "sqlite": (
        'INSERT INTO "events" ("user_id", "event_type", "ts_utc", "meta") '
        'SELECT "user_id", ?2, ?3, ?4 FROM "users" '
        'WHERE "user_id" = ?1 AND "token_version" <= ?5 RETURNING "id"'
    ),
}


async def record_user_event(
    identity: Identity,
    event_type: str,
    meta: str | None,
    ts: datetime | None,
    conn: BaseDBAsyncClient | None = None,
) -> int:
    """The new event's id; Unauthorized when no user has the token's id, TokenRevoked when the
    token is older than the user's last logout (nothing is written then)."""
    client = conn or Event._meta.db
    statement = _INSERT_USER_EVENT[client.capabilities.dialect]
    parameters = [identity.user_id, event_type, ts or datetime.now(UTC), meta, identity.version]
    rows = await client.execute_query_dict(statement, parameters)
    if rows:
        return int(rows[0]["id"])
    await user_of(identity, conn)  # raises why nothing was written
    raise RuntimeError(f"the event of {identity.user_id!r} passed every check but was not written")


async def track_event(
    store: IdempotencyStore,
    identity: Identity,
    event_type: str,
    meta: str | None,
    ts: datetime | None,
    idempotency_key: str | None,
    body_fingerprint: str,
) -> EventRecorded:
    """Records a client event once (per Idempotency-Key, when one is given)."""

    async def operation(conn: BaseDBAsyncClient | None) -> dict[str, Any]:
        # The stored result keeps the key earlier releases stored (in `{"ok", "eventId"}`).
        return {"eventId": await record_user_event(identity, event_type, meta, ts, conn)}

    scope = Scope(identity.user_id, "/event", idempotency_key) if idempotency_key else None
    outcome = await store.run(scope, body_fingerprint, operation)
    return EventRecorded(int(outcome.result["eventId"]), outcome.replayed)


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    total: int


async def events_page(user_id: str, where: EventFilter, limit: int, offset: int) -> EventPage:
    query = where.apply(Event.filter(user_id=user_id))
    total = await query.count()
    events = await query.order_by("-ts_utc", "-id").offset(offset).limit(limit)
    return EventPage(events, total)


@dataclass(frozen=True, slots=True)
class TypeStats:
    event_type: str
    count: int
    first_ts: datetime
    last_ts: datetime


@dataclass(frozen=True, slots=True)
class StatsPage:
    by_type: list[TypeStats]
    total: int  # number of event types matching (what the page walks through)


async def stats_page(user_id: str | None, where: EventFilter, limit: int, offset: int) -> StatsPage:
    """Counts per event type, most frequent first; `user_id` None means all users."""
    query = where.apply(Event.all() if user_id is None else Event.filter(user_id=user_id))
    counted = await query.annotate(types=Count("event_type", distinct=True)).values("types")
    total = counted[0]["types"] if counted else 0
    rows = (
        await query.annotate(count=Count("id"), first_ts=Min("ts_utc"), last_ts=Max("ts_utc"))
        .group_by("event_type")
        .order_by("-count", "event_type")
        .offset(offset)
        .limit(limit)
        .values("event_type", "count", "first_ts", "last_ts")
    )
    return StatsPage([TypeStats(**row) for row in rows], total)
