"""Event routes: POST /event, GET /events, GET /stats."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from service.errors import Forbidden
from service.events import store as events
from service.http.docs import BEARER, OPTIONAL_BEARER_OR_ADMIN, documented
from service.http.ratelimit import rate_limited
from service.http.responses import page_fields, respond
from service.http.schemas import (
    EventCreatedResponse,
    EventFilterQuery,
    EventOut,
    EventRequest,
    EventsResponse,
    StatsQuery,
    StatsResponse,
    TypeStats,
)
from service.http.validation import parse_body, parse_query
from service.idempotency.headers import body_fingerprint, idempotency_key, replay_headers
from service.identity import admin
from service.identity.routes import optional_user, require_subject, require_user

bp = Blueprint("events")


def _filter(query: EventFilterQuery) -> events.EventFilter:
    return events.EventFilter(query.event_type, query.start_time, query.end_time)


@bp.post("/event")
@documented(
    "Record an event (Idempotency-Key supported)",
    tag="events",
    body=EventRequest,
    ok=EventCreatedResponse,
    errors=(400, 401, 409, 413, 422, 429),
    security=BEARER,
    idempotent=True,
)
@require_subject
@rate_limited("wallet", per_user=True)
async def create_event(request: Request) -> HTTPResponse:
    body = parse_body(EventRequest, request)
    recorded = await events.track_event(
        request.app.ctx.idempotency,
        request.ctx.identity,
        body.eventType,
        body.meta,
        body.timestampUtc,
        idempotency_key(request),
        body_fingerprint(body),
    )
    return respond(
        EventCreatedResponse(ok=True, eventId=recorded.event_id), headers=replay_headers(recorded.replayed)
    )


@bp.get("/events")
@documented(
    "The caller's events, newest first",
    tag="events",
    query=EventFilterQuery,
    ok=EventsResponse,
    errors=(401, 422),
    security=BEARER,
)
@require_user
async def list_events(request: Request) -> HTTPResponse:
    query = parse_query(EventFilterQuery, request)
    page = await events.events_page(request.ctx.user.user_id, _filter(query), query.limit, query.offset)
    items = [EventOut(id=e.id, type=e.event_type, ts=e.ts_utc, meta=e.meta) for e in page.events]
    return respond(EventsResponse(events=items, **page_fields(len(items), page.total, query)))


@bp.get("/stats")
@documented(
    "Event counts per type: global without a token, the caller's with one; another user's "
    "(uid) needs X-Admin-Token. `total` counts the event types matching.",
    tag="events",
    query=StatsQuery,
    ok=StatsResponse,
    errors=(401, 403, 422),
    security=OPTIONAL_BEARER_OR_ADMIN,
)
@optional_user
async def stats(request: Request) -> HTTPResponse:
    query = parse_query(StatsQuery, request)
    caller = request.ctx.user.user_id if request.ctx.user else None
    subject = query.uid or caller
    if (
        query.uid is not None
        and query.uid != caller
        and not admin.token_matches(request.app.ctx.settings, request.headers.get(admin.HEADER))
    ):
        raise Forbidden("Statistics of another user need a valid X-Admin-Token")
    page = await events.stats_page(subject, _filter(query), query.limit, query.offset)
    by_type = [
        TypeStats(eventType=s.event_type, count=s.count, firstTs=s.first_ts, lastTs=s.last_ts)
        for s in page.by_type
    ]
    return respond(
        StatsResponse(
            scope="global" if subject is None else "user",
            byType=by_type,
            **page_fields(len(by_type), page.total, query),
        )
    )
