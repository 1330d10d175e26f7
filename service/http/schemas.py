"""Request and response models (Pydantic v2). They validate input and feed the OpenAPI document.

Request bodies are strict: JSON types are never coerced ("12" is not an int, 1.5 is not an int).
Query strings are text by nature, so query models parse numbers from strings but keep the bounds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.json_depth import MAX_JSON_DEPTH, exceeds_depth

EXAMPLE_USER = "player_12345"
EXAMPLE_TIME = "2025-11-12T10:30:00+00:00"
EXAMPLE_SECRET = "device-key-8f2b1c7a9d3e4f50"


def example(**fields: Any) -> ConfigDict:
    """The model's example (JSON Schema `examples`), shown by the docs and sent by Postman."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


MAX_FUTURE_SKEW = timedelta(hours=24)


def as_utc(value: datetime) -> datetime:
    """Times without an offset are UTC; times with one are converted to UTC (SPEC §0)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before the first representable time
        raise PydanticCustomError("datetime_out_of_range", "must fall within years 1-9999 in UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _no_html_quotes(value: str) -> str:
    if any(ch in value for ch in "<>\"'"):
        raise PydanticCustomError("forbidden_characters", "must not contain < > \" or '")
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise PydanticCustomError("forbidden_characters", "must not contain the NUL character")
    return value


UserId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_no_html_quotes),
    AfterValidator(_no_nul),
]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


class StrictBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class QueryModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- requests -------------------------------------------------------------------------------


class LoginRequest(StrictBody):
    """Log in as a player; the first login creates the account with balance 0."""

    model_config = example(userId=EXAMPLE_USER, secret=EXAMPLE_SECRET)

    userId: UserId = Field(description="The player's id: 1-255 characters after trimming, none of < > \" '")
    # A random device key the game keeps (keychain); binds the account on first use (SPEC §3b).
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="16-256 chars, e.g. a random device key kept in the keychain: binds the account on "
        "first use; from then on every login must carry it (401 invalid_credentials / credentials_required)",
    )


class AmountRequest(StrictBody):
    """A balance change of the caller (an integer amount, never a string or a fraction)."""

    model_config = example(amount=500, reason="daily_bonus")

    amount: int = Field(ge=1, le=100_000, description="Currency units, 1..100000")
    reason: Annotated[str, AfterValidator(_no_nul)] = Field(
        min_length=1,
        max_length=100,
        description="Why the balance changes (an economy catalogue reason for /earn)",
    )


class EventRequest(StrictBody):
    """A game event of the caller."""

    model_config = example(eventType="level_up", meta='{"level": 5}', timestampUtc=EXAMPLE_TIME)

    eventType: EventType = Field(description="1-100 characters of [A-Za-z0-9_.-]")
    meta: str | None = Field(
        default=None,
        max_length=5000,
        description="Free-form details: a JSON document as a string (422 invalid_meta otherwise)",
    )
    timestampUtc: UtcDatetime | None = Field(
        default=None,
        description="When it happened (ISO 8601; no offset means UTC); now if absent, at most 24 h ahead",
    )

    @field_validator("meta")
    @classmethod
    def _meta_is_json(cls, value: str | None) -> str | None:
        if value is not None:
            if exceeds_depth(value):
                raise PydanticCustomError(
                    "invalid_meta", "meta must not nest deeper than {limit} levels", {"limit": MAX_JSON_DEPTH}
                )
            try:
                json.loads(value)
            except ValueError:
                raise PydanticCustomError("invalid_meta", "meta must be a JSON document") from None
        return value

    @field_validator("timestampUtc")
    @classmethod
    def _not_far_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + MAX_FUTURE_SKEW:
            raise PydanticCustomError("too_far_in_future", "must be at most 24 hours in the future")
        return value


class PageQuery(QueryModel):
    limit: int = Field(default=100, ge=1, le=1000, description="Page size, 1..1000")
    # The largest OFFSET both databases take (64-bit); beyond it is a 422, not a driver overflow.
    offset: int = Field(default=0, ge=0, le=2**63 - 1, description="Entries to skip")


class EventFilterQuery(PageQuery):
    event_type: EventType | None = Field(default=None, description="Only this event type")
    start_time: UtcDatetime | None = Field(
        default=None, description="Events at or after this time (ISO 8601)"
    )
    end_time: UtcDatetime | None = Field(
        default=None, description="Events at or before this time (not before start_time)"
    )

    @model_validator(mode="after")
    def _ordered_range(self) -> EventFilterQuery:
        if self.start_time and self.end_time and self.start_time > self.end_time:
            raise PydanticCustomError(
                "range_reversed", "start_time must not be after end_time", {"field": "start_time"}
            )
        return self


class StatsQuery(EventFilterQuery):
    uid: UserId | None = Field(
        default=None, description="Another user's statistics (needs X-Admin-Token unless it is the caller)"
    )


# ---- responses ------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with offset and microseconds, as the brief shows."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class ResponseModel(BaseModel):
    """A documented response: handlers build the body from it, so docs and bodies cannot drift."""

    # Pydantic would write "Z" and drop zero microseconds; the contract's timestamps keep both.
    @field_serializer("*", mode="wrap", when_used="json")
    def _timestamps_as_contract(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        return iso(value) if isinstance(value, datetime) else handler(value)


class ErrorDetail(BaseModel):
    """What is wrong with one input field."""

    model_config = example(field="amount", problem="Input should be less than or equal to 100000")

    field: str = Field(description="The field (dotted path for nested ones), header or parameter")
    problem: str = Field(description="What is wrong with it")


class ErrorResponse(BaseModel):
    """Every error answer (4xx and 5xx)."""

    model_config = example(
        error="validation_error",
        message="Request validation failed",
        details=[{"field": "amount", "problem": "Input should be less than or equal to 100000"}],
        requestId="5fd06ab0-5008-4439-84a2-fa43bdc68e7b",
    )

    error: str = Field(description="Machine-readable snake_case code, e.g. insufficient_funds, token_revoked")
    message: str = Field(description="A sentence for humans")
    details: list[ErrorDetail] | None = Field(
        default=None, description="Per-field problems (validation errors)"
    )
    requestId: str = Field(description="The X-Request-ID of the request, for the logs")


class LoginResponse(ResponseModel):
    """A bearer token for the other routes."""

    model_config = example(
        token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
        userId=EXAMPLE_USER,
        expiresAt="2025-11-12T12:30:00+00:00",
    )

    token: str = Field(description="JWT (HS256); send as `Authorization: Bearer <token>`")
    userId: str = Field(description="The logged-in player")
    expiresAt: datetime = Field(description="When the token expires (JWT_TTL_MIN after issue)")


class LogoutResponse(ResponseModel):
    """Every token issued to the caller so far is revoked."""

    model_config = example(ok=True)

    ok: Literal[True] = Field(description="Always true on success")


class ServerAmountRequest(AmountRequest):
    """A balance change of any player, by a game server or the back office (X-Server-Key)."""

    model_config = example(userId=EXAMPLE_USER, amount=1000, reason="tournament_prize")

    userId: UserId = Field(description="The player whose balance changes")


class DatabaseHealth(ResponseModel):
    """The database as the service sees it."""

    model_config = example(status="connected", type="postgres", tables="accessible")

    status: Literal["connected", "unreachable"] = Field(description="Whether a query got through")
    type: str = Field(description="sqlite or postgres")
    tables: Literal["accessible", "inaccessible"] = Field(
        description="Whether the service's tables can be read"
    )


class HealthChecks(ResponseModel):
    """Row counts (null when the database is unreachable)."""

    model_config = example(users=42, events=1234)

    users: int | None = Field(description="Users in the database")
    events: int | None = Field(description="Events in the database")


class HealthResponse(ResponseModel):
    """Service health: 200 healthy, 503 when the database is unreachable."""

    model_config = example(
        status="healthy",
        version="3.0.0",
        environment="development",
        timestamp=EXAMPLE_TIME,
        database={"status": "connected", "type": "postgres", "tables": "accessible"},
        checks={"users": 42, "events": 1234},
    )

    status: Literal["healthy", "unhealthy"] = Field(description="healthy when the database answers")
    version: str = Field(description="Service version")
    environment: str = Field(description="ENVIRONMENT: development, test or production")
    timestamp: datetime = Field(description="Server time of the check (UTC)")
    database: DatabaseHealth = Field(description="Database status")
    checks: HealthChecks = Field(description="Row counts")


class BalanceChangeResponse(ResponseModel):
    """The balance after the change."""

    model_config = example(ok=True, balance=1500)

    ok: Literal[True] = Field(description="Always true on success")
    balance: int = Field(description="The new balance (never negative)")


class BalanceResponse(ResponseModel):
    """The caller's balance."""

    model_config = example(userId=EXAMPLE_USER, balance=1500)

    userId: str = Field(description="The caller")
    balance: int = Field(description="Current balance (= the sum of the ledger)")


class Page(ResponseModel):
    total: int = Field(description="Entries matching the filters, all pages together")
    limit: int = Field(description="Page size used")
    offset: int = Field(description="Entries skipped")
    hasMore: bool = Field(description="Whether another page follows")


class LedgerEntry(ResponseModel):
    """One balance change."""

    model_config = example(
        id=7, delta=500, balanceAfter=1500, reason="daily_bonus", ts=EXAMPLE_TIME, idempotencyKey="earn-0001"
    )

    id: int = Field(description="Ledger entry id")
    delta: int = Field(description="Positive for earn, negative for spend")
    balanceAfter: int = Field(description="The balance right after this change")
    reason: str = Field(description="The reason given")
    ts: datetime = Field(description="When it was applied (UTC)")
    idempotencyKey: str | None = Field(description="The Idempotency-Key of the request, if any")


class LedgerResponse(Page):
    """The caller's balance changes, newest first."""

    model_config = example(
        entries=[
            {
                "id": 7,
                "delta": 500,
                "balanceAfter": 1500,
                "reason": "daily_bonus",
                "ts": EXAMPLE_TIME,
                "idempotencyKey": "earn-0001",
            }
        ],
        total=1,
        limit=100,
        offset=0,
        hasMore=False,
    )

    entries: list[LedgerEntry] = Field(description="This page of entries")


class EventCreatedResponse(ResponseModel):
    """The stored event."""

    model_config = example(ok=True, eventId=101)

    ok: Literal[True] = Field(description="Always true on success")
    eventId: int = Field(description="The new event's id")


class EventOut(ResponseModel):
    """One event."""

    model_config = example(id=101, type="level_up", ts=EXAMPLE_TIME, meta='{"level": 5}')

    id: int = Field(description="Event id")
    type: str = Field(description="Event type")
    ts: datetime = Field(description="When it happened (UTC)")
    meta: str | None = Field(description="The JSON text sent as meta")


class EventsResponse(Page):
    """The caller's events, newest first."""

    model_config = example(
        events=[{"id": 101, "type": "level_up", "ts": EXAMPLE_TIME, "meta": '{"level": 5}'}],
        total=1,
        limit=100,
        offset=0,
        hasMore=False,
    )

    events: list[EventOut] = Field(description="This page of events")


class TypeStats(ResponseModel):
    """Counts of one event type."""

    model_config = example(
        eventType="level_up", count=3, firstTs=EXAMPLE_TIME, lastTs="2025-11-12T18:00:00+00:00"
    )

    eventType: str = Field(description="Event type")
    count: int = Field(description="Events of this type")
    firstTs: datetime = Field(description="Earliest of them")
    lastTs: datetime = Field(description="Latest of them")


class StatsResponse(Page):
    """Event counts by type: global without a token, the caller's (or uid's) with one."""

    model_config = example(
        scope="user",
        byType=[
            {
                "eventType": "level_up",
                "count": 3,
                "firstTs": EXAMPLE_TIME,
                "lastTs": "2025-11-12T18:00:00+00:00",
            }
        ],
        total=1,
        limit=100,
        offset=0,
        hasMore=False,
    )

    scope: Literal["global", "user"] = Field(description="global (no token) or user")
    byType: list[TypeStats] = Field(description="One row per event type")
