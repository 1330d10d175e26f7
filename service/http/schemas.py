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
    userId: UserId
    # A random device key the game keeps (keychain); binds the account on first use (SPEC §3b).
    secret: str | None = Field(default=None, min_length=16, max_length=256)


class AmountRequest(StrictBody):
    amount: int = Field(ge=1, le=100_000)
    reason: Annotated[str, AfterValidator(_no_nul)] = Field(min_length=1, max_length=100)


class EventRequest(StrictBody):
    eventType: EventType
    meta: str | None = Field(default=None, max_length=5000)
    timestampUtc: UtcDatetime | None = None

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
    limit: int = Field(default=100, ge=1, le=1000)
    # The largest OFFSET both databases take (64-bit); beyond it is a 422, not a driver overflow.
    offset: int = Field(default=0, ge=0, le=2**63 - 1)


class EventFilterQuery(PageQuery):
    event_type: EventType | None = None
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ordered_range(self) -> EventFilterQuery:
        if self.start_time and self.end_time and self.start_time > self.end_time:
            raise PydanticCustomError(
                "range_reversed", "start_time must not be after end_time", {"field": "start_time"}
            )
        return self


class StatsQuery(EventFilterQuery):
    uid: UserId | None = None


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
    field: str
    problem: str


class ErrorResponse(BaseModel):
    error: str
    message: str
    details: list[ErrorDetail] | None = None
    requestId: str


class LoginResponse(ResponseModel):
    token: str
    userId: str
    expiresAt: datetime


class LogoutResponse(ResponseModel):
    ok: Literal[True]


class ServerAmountRequest(AmountRequest):
    userId: UserId


class DatabaseHealth(ResponseModel):
    status: Literal["connected", "unreachable"]
    type: str
    tables: Literal["accessible", "inaccessible"]


class HealthChecks(ResponseModel):
    users: int | None
    events: int | None


class HealthResponse(ResponseModel):
    status: Literal["healthy", "unhealthy"]
    version: str
    environment: str
    timestamp: datetime
    database: DatabaseHealth
    checks: HealthChecks


class BalanceChangeResponse(ResponseModel):
    ok: Literal[True]
    balance: int


class BalanceResponse(ResponseModel):
    userId: str
    balance: int


class Page(ResponseModel):
    total: int
    limit: int
    offset: int
    hasMore: bool


class LedgerEntry(ResponseModel):
    id: int
    delta: int
    balanceAfter: int
    reason: str
    ts: datetime
    idempotencyKey: str | None


class LedgerResponse(Page):
    entries: list[LedgerEntry]


class EventCreatedResponse(ResponseModel):
    ok: Literal[True]
    eventId: int


class EventOut(ResponseModel):
    id: int
    type: str
    ts: datetime
    meta: str | None


class EventsResponse(Page):
    events: list[EventOut]


class TypeStats(ResponseModel):
    eventType: str
    count: int
    firstTs: datetime
    lastTs: datetime


class StatsResponse(Page):
    scope: Literal["global", "user"]
    byType: list[TypeStats]
