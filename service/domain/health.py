"""Database health for GET /health."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from service.models import Event, User

log = logging.getLogger("service.health")
# A health probe must answer even when the database hangs (SPEC: 503 within 2 s).
PROBE_TIMEOUT_SECONDS = 1.5


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    connected: bool
    users: int | None
    events: int | None


async def _count_rows() -> tuple[int, int]:
    return await User.all().count(), await Event.all().count()


def _log_late_failure(probe: asyncio.Task) -> None:
    if not probe.cancelled() and probe.exception() is not None:
        log.debug("abandoned health probe failed: %s", probe.exception())


async def database_health() -> DatabaseHealth:
    # The probe is not cancelled on timeout but left to finish on its own: cancelling a query
    # on a hung server waits for asyncpg's cancel request and connection reset (seconds more).
    probe = asyncio.ensure_future(_count_rows())
    try:
        users, events = await asyncio.wait_for(asyncio.shield(probe), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any driver or network failure, or the timeout: "unreachable"
        probe.add_done_callback(_log_late_failure)
        log.warning("database health probe failed: %r", exc)
        return DatabaseHealth(connected=False, users=None, events=None)
    return DatabaseHealth(connected=True, users=users, events=events)
