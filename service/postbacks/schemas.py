"""OpenAPI models of /track and /af/postback (the rules themselves are in the domain modules)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.http.docs import JsonSchema
from service.postbacks.deeplinks import MAX_CHARS
from service.postbacks.rules import MAX_EVENT_NAME_CHARS, MAX_USER_ID_CHARS


class TrackResponse(BaseModel):
    """The deeplink visit, logged as a `deeplink_track` event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "logged": {
                        "character": "warrior",
                        "campaign": "summer_promo",
                        "utm_source": "newsletter",
                    },
                }
            ]
        }
    )

    ok: Literal[True] = Field(description="Always true on success")
    logged: dict[str, str] = Field(
        description="The attribution parameters that were logged (unknown ones are dropped)"
    )


class AppsFlyerPostback(BaseModel):
    """AppsFlyer Push API v2 body. Fields it sends but not listed here are kept as sent."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "event_name": "af_purchase",
                    "event_time": "2025-11-12 18:00:00.000",
                    "event_value": '{"af_revenue":"9.99","af_currency":"USD"}',
                    "event_revenue_usd": "9.99",
                    "appsflyer_id": "1731434400000-1234567",
                    "customer_user_id": "player_12345",
                    "media_source": "googleadwords_int",
                    "campaign": "summer_campaign",
                    "af_adset": "adset_1",
                    "platform": "android",
                }
            ]
        },
    )

    event_name: str = Field(
        min_length=1,
        max_length=MAX_EVENT_NAME_CHARS,
        pattern=r"\S",
        description="AppsFlyer's event name; stored as the event type with an `af_` prefix",
    )
    customer_user_id: str | None = Field(
        default=None, max_length=MAX_USER_ID_CHARS, description="The event's user when set"
    )
    appsflyer_id: str | None = Field(
        default=None,
        max_length=MAX_USER_ID_CHARS,
        description="The event's user when customer_user_id is null or empty; one of them is required",
    )
    event_time: str | None = Field(
        default=None,
        description="`YYYY-MM-DD HH:MM:SS[.sss]` UTC, or ISO 8601; the receipt time when absent",
    )
    event_revenue_usd: str | float | None = Field(default=None, description="A number or numeric text")
    event_value: str | None = Field(default=None, description="Event parameters as a JSON string")
    media_source: str | None = Field(default=None, description="The attributed media source")
    campaign: str | None = Field(default=None, description="The attributed campaign")


class PostbackResponse(BaseModel):
    """The stored postback (or the first receipt of the same body)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "postbackId": 12,
                    "eventId": 345,
                    "message": "Postback stored",
                    "duplicate": False,
                }
            ]
        }
    )

    ok: Literal[True] = Field(description="Always true on success")
    postbackId: int = Field(description="The raw_postbacks row")
    eventId: int | None = Field(
        description="The af_* event's id (null only if that event was deleted since the first receipt)"
    )
    message: str = Field(description="What happened, for humans")
    duplicate: bool = Field(
        description="true when the same body arrived within 7 days before: nothing new was stored"
    )


TRACK_QUERY_SCHEMA = JsonSchema({"type": "string", "maxLength": MAX_CHARS})
SIGNATURE_HEADER_SCHEMA = JsonSchema({"type": "string"})
