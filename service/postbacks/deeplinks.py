"""Deeplink attribution (`GET /track`, SPEC §2): which query parameters are logged, and logging them.

Only attribution parameters are kept (`character`, `campaign`, `media_source`, `pid`, `c`, and
any `af_*` / `utm_*`); everything else a link carries (click ids, cache busters) is dropped rather
than refused, so a junk parameter never costs an attribution. The limits apply to what is logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from service.errors import ValidationFailed
from service.models import Event

EVENT_TYPE = "deeplink_track"
ANONYMOUS_USER = "anonymous"
MAX_PARAMS = 20
MAX_CHARS = 200
NAMED_PARAMS = ("character", "campaign", "media_source", "pid", "c")
_PREFIXED_PARAM = re.compile(r"(?:af|utm)_[A-Za-z0-9_]+", re.ASCII)


def is_tracked(name: str) -> bool:
    return name in NAMED_PARAMS or _PREFIXED_PARAM.fullmatch(name) is not None


def tracked_params(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The attribution parameters of a query, first value of each; 422 past the limits."""
    logged: dict[str, str] = {}
    for name, value in params:
        if is_tracked(name) and name not in logged:
            logged[name] = value
    if len(logged) > MAX_PARAMS:
        raise ValidationFailed(
            f"at most {MAX_PARAMS} attribution parameters may be sent",
            details=[{"field": "query", "problem": f"{len(logged)} parameters, at most {MAX_PARAMS}"}],
        )
    too_long = [
        {"field": name[:MAX_CHARS], "problem": f"must be at most {MAX_CHARS} characters"}
        for name, value in logged.items()
        if len(name) > MAX_CHARS or len(value) > MAX_CHARS
    ]
    if too_long:
        raise ValidationFailed(
            f"attribution parameters must be at most {MAX_CHARS} characters", details=too_long
        )
    return logged


async def log_deeplink(logged: dict[str, str], user_id: str | None, now: datetime | None = None) -> Event:
    return await Event.create(
        user_id=user_id or ANONYMOUS_USER,
        event_type=EVENT_TYPE,
        ts_utc=now or datetime.now(UTC),
        meta=json.dumps(logged, separators=(",", ":")),
    )
