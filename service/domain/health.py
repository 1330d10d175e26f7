"""Database health for GET /health."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from service.models import Event, User

log = logging.getLogger("service.health")
# A health probe must answer even when the database hangs.
PROBE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    connected: bool
    users: int | None
    events: int | None


async def database_health() -> DatabaseHealth:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            users = await User.all().count()
            events = await Event.all().count()
    except Exception as exc:  # any driver or network failure means "unreachable"
        log.warning("database health probe failed: %s", exc)
        return DatabaseHealth(connected=False, users=None, events=None)
    return DatabaseHealth(connected=True, users=users, events=events)
