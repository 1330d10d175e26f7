"""Database health for GET /health."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from service.models import Event, User

log = logging.getLogger("service.health")
# A health probe must answer even when the database hangs.
PROBE_TIMEOUT_SECONDS = 1.5  # SPEC: 503 within 2 s when the database hangs


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    connected: bool
    users: int | None
    events: int | None


async def _count_rows() -> DatabaseHealth:
    return DatabaseHealth(connected=True, users=await User.all().count(), events=await Event.all().count())


async def database_health() -> DatabaseHealth:
    try:
        # Shielded: on timeout the probe finishes in the background instead of being cancelled
        # half-way through (re)connecting, which would leave the connection unusable.
        return await asyncio.wait_for(asyncio.shield(_count_rows()), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any driver or network failure, or the timeout: "unreachable"
        log.warning("database health probe failed: %r", exc)
        return DatabaseHealth(connected=False, users=None, events=None)
