"""Event tracking: recording, listing and per-type statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count, Max, Min
from tortoise.queryset import QuerySet

from service.idempotency.store import IdempotencyStore, Scope
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


async def record_event(
    user_id: str,
    event_type: str,
    meta: str | None = None,
    ts: datetime | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> Event:
    return await Event.create(
        using_db=conn, user_id=user_id, event_type=event_type, meta=meta, ts_utc=ts or datetime.now(UTC)
    )


async def track_event(
    store: IdempotencyStore,
    user_id: str,
    event_type: str,
    meta: str | None,
    ts: datetime | None,
    idempotency_key: str | None,
    body_fingerprint: str,
) -> EventRecorded:
    """Records a client event once (per Idempotency-Key, when one is given)."""

    async def operation(conn: BaseDBAsyncClient | None) -> dict[str, Any]:
        # The stored result keeps the key earlier releases stored (in `{"ok", "eventId"}`).
        return {"eventId": (await record_event(user_id, event_type, meta, ts, conn)).id}

    scope = Scope(user_id, "/event", idempotency_key) if idempotency_key else None
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
