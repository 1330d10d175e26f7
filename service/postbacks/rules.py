"""AppsFlyer postback rules (SPEC §4): proof of origin, body validation, mapping to an event.

Pure functions only; storing a postback lives in `postback_store`. The body is always handled as
the exact bytes received: the HMAC is over those bytes, the retry fingerprint is their SHA-256,
and the stored payload is their text, so nothing here ever re-serialises the JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from service.errors import MalformedJson, PayloadTooLarge, Unauthorized, ValidationFailed
from service.json_depth import MAX_JSON_DEPTH, exceeds_depth

MAX_BODY_BYTES = 64 * 1024
SIGNATURE_PREFIX = "sha256="
EVENT_PREFIX = "af_"
SOURCE = "appsflyer"
MAX_EVENT_NAME_CHARS = 100
MAX_USER_ID_CHARS = 255
REVENUE_FIELDS = ("event_revenue_usd", "event_revenue")
DEFAULT_MAX_PURCHASE_USD = 10_000.0

# AppsFlyer Push API v2 sends `YYYY-MM-DD HH:MM:SS.sss` (UTC); ISO 8601 with `T` and an offset
# is accepted too. Anchored so that date-only or compact forms that fromisoformat allows are not.
_EVENT_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
# C0/C1 controls and lone surrogates: PostgreSQL rejects NUL and surrogates cannot be encoded.
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class InvalidPushToken(Unauthorized):
    code = "invalid_push_token"


class ProofRequired(Unauthorized):
    code = "signature_required"


ProofMethod = Literal["hmac", "push_token"]


@dataclass(frozen=True)
class Proof:
    """How a postback proved where it came from. `verified` False only for dev's unsigned ones;
    `signature` is the verified HMAC as lowercase hex (prefix dropped), as stored."""

    verified: bool
    methods: tuple[ProofMethod, ...]
    signature: str | None


@dataclass(frozen=True)
class Postback:
    """A validated postback: the exact text received plus what the event is made of."""

    text: str
    body_sha256: str
    payload: dict[str, Any]
    event_type: str
    user_id: str
    event_time: datetime | None


def sign(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body, as AppsFlyer and our simulator send it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _present(header: str | None) -> str | None:
    value = (header or "").strip()
    return value or None


def _same(expected: str, provided: str) -> bool:
    # compare_digest refuses non-ASCII str; header text can be anything, bytes are always fine.
    return hmac.compare_digest(expected.encode(), provided.encode("utf-8", "surrogateescape"))


def verify_proof(
    body: bytes,
    *,
    signature_header: str | None,
    token_header: str | None,
    af_secret: str,
    push_token: str | None,
    proof_required: bool,
) -> Proof:
    """Check the HMAC signature and/or the Push API token; either suffices, a wrong one never does.

    The token header only counts when a push token is configured (by default it is
    `Authorization`, which may carry unrelated credentials otherwise).
    """
    signature = _present(signature_header)
    token = _present(token_header) if push_token else None
    methods: list[ProofMethod] = []
    if signature is not None:
        if signature.lower().startswith(SIGNATURE_PREFIX):
            signature = signature[len(SIGNATURE_PREFIX) :]
        signature = signature.lower()
        if not _same(sign(af_secret, body), signature):
            raise InvalidSignature("X-AF-Signature does not match the HMAC-SHA256 of the body")
        methods.append("hmac")
    if token is not None and push_token is not None:
        if not _same(push_token, token):
            raise InvalidPushToken("the AppsFlyer push token does not match")
        methods.append("push_token")
    if not methods and proof_required:
        raise ProofRequired("a postback needs an X-AF-Signature HMAC or the AppsFlyer push token header")
    return Proof(verified=bool(methods), methods=tuple(methods), signature=signature)


def event_type_for(event_name: str) -> str:
    return event_name if event_name.startswith(EVENT_PREFIX) else EVENT_PREFIX + event_name


def parse_event_time(value: str) -> datetime:
    """`2025-11-12 18:00:00.123` (UTC, AppsFlyer's form) or ISO 8601; returned aware, in UTC."""
    if not _EVENT_TIME.fullmatch(value):
        raise ValueError(value)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(
        f"postback field {field} {problem}", details=[{"field": field, "problem": problem}]
    )


def _text_field(payload: dict[str, Any], field: str, max_chars: int) -> str | None:
    """A string field AppsFlyer may send as null or empty when unknown; None when absent."""
    value = payload.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    value = value.strip()
    if not value:
        return None
    if len(value) > max_chars:
        raise _invalid(field, f"must be at most {max_chars} characters")
    if _UNSTORABLE.search(value):
        raise _invalid(field, "must not contain control characters")
    return value


class InvalidRevenue(ValidationFailed):
    code = "invalid_revenue"


def _check_revenue(payload: dict[str, Any], max_purchase_usd: float) -> None:
    # Kept as sent (AppsFlyer uses a string); checked so the pipeline never meets garbage.
    for field in REVENUE_FIELDS:
        value = payload.get(field)
        if value is None or value == "":
            continue
        problem = f"must be a finite number from 0 to {max_purchase_usd:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InvalidRevenue(f"postback field {field} {problem}", [{"field": field, "problem": problem}])
        try:
            amount = float(value)
        except (ValueError, OverflowError):
            amount = math.nan
        if not (math.isfinite(amount) and 0 <= amount <= max_purchase_usd):
            raise InvalidRevenue(f"postback field {field} {problem}", [{"field": field, "problem": problem}])


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(body: bytes) -> tuple[str, Any]:
    if exceeds_depth(body):
        raise _invalid("body", f"must not nest deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = body.decode("utf-8")
        return text, json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise MalformedJson("the postback body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise MalformedJson("the postback body is not valid JSON") from None


def parse_postback(body: bytes, max_purchase_usd: float = DEFAULT_MAX_PURCHASE_USD) -> Postback:
    """Validate a raw postback body (400 not JSON; 422 not an object, no event_name, no id)."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"a postback body may be at most {MAX_BODY_BYTES} bytes")
    text, payload = _decode(body)
    if not isinstance(payload, dict):
        raise _invalid("body", "must be a JSON object")
    return _postback(payload, text, body_sha256(body), max_purchase_usd)


def parse_query_postback(query_string: str, max_purchase_usd: float = DEFAULT_MAX_PURCHASE_USD) -> Postback:
    """A postback delivered by GET: the fields are the query parameters (the first of a repeated
    one), stored as a JSON object; the retry fingerprint is over the raw query string."""
    raw = query_string.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"a postback query may be at most {MAX_BODY_BYTES} bytes")
    payload: dict[str, Any] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        payload.setdefault(name, value)
    return _postback(payload, json.dumps(payload, ensure_ascii=False), body_sha256(raw), max_purchase_usd)


def _postback(payload: dict[str, Any], text: str, sha256: str, max_purchase_usd: float) -> Postback:
    event_name = _text_field(payload, "event_name", MAX_EVENT_NAME_CHARS)
    if event_name is None:
        raise _invalid("event_name", "is required")
    user_id = _text_field(payload, "customer_user_id", MAX_USER_ID_CHARS) or _text_field(
        payload, "appsflyer_id", MAX_USER_ID_CHARS
    )
    if user_id is None:
        raise ValidationFailed(
            "a postback needs customer_user_id or appsflyer_id",
            details=[
                {"field": "customer_user_id", "problem": "customer_user_id or appsflyer_id is required"},
                {"field": "appsflyer_id", "problem": "customer_user_id or appsflyer_id is required"},
            ],
        )
    _check_revenue(payload, max_purchase_usd)
    raw_time = payload.get("event_time")
    event_time = None
    if raw_time is not None and raw_time != "":
        if not isinstance(raw_time, str):
            raise _invalid("event_time", "must be a string like 2025-11-12 18:00:00.000")
        try:
            event_time = parse_event_time(raw_time.strip())
        except (ValueError, OverflowError):  # Overflow: e.g. 0001-01-01T00:00:00+01:00
            raise _invalid("event_time", "must be YYYY-MM-DD HH:MM:SS[.sss] (UTC) or ISO 8601") from None
    return Postback(
        text=text,
        body_sha256=sha256,
        payload=payload,
        event_type=event_type_for(event_name),
        user_id=user_id,
        event_time=event_time,
    )
