"""What every server worker opens, runs in the background and closes, in one place.

Start order: database, rate-limit store, then the background jobs; stop runs the reverse. Each
job is a coroutine that loops until cancelled and survives its own failures (it logs and tries
again at its next turn), so one bad turn never ends a timer for the life of the worker.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Coroutine
from typing import Any

from service.config import Settings
from service.db import close_orm, init_orm, warm_up
from service.idempotency.store import IdempotencyStore
from service.infrastructure.redis_rate_limit import build_rate_limiter
from service.monitoring import metrics
from service.monitoring.jobs import audit_forever, sample_pool_forever
from service.sanic_types import App

log = logging.getLogger("service.lifecycle")

IDEMPOTENCY_PURGE_INTERVAL_SECONDS = 600
# The first audit waits a little so that short-lived servers (tests) never run one.
_FIRST_AUDIT_DELAY_CAP_SECONDS = 30.0


async def purge_idempotency_keys_forever(store: IdempotencyStore) -> None:
    while True:
        try:
            purged = await store.purge_expired()
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception:  # a failed purge must not end the timer; the next one catches up
            log.exception("idempotency key purge failed")
        await asyncio.sleep(IDEMPOTENCY_PURGE_INTERVAL_SECONDS)


def background_jobs(app: App) -> dict[str, Coroutine[Any, Any, None]]:
    """Every job a worker runs, by name (the asyncio task names)."""
    settings: Settings = app.ctx.settings
    jobs: dict[str, Coroutine[Any, Any, None]] = {
        "idempotency:purge": purge_idempotency_keys_forever(app.ctx.idempotency),
        "metrics:db-pool": sample_pool_forever(),
    }
    interval = settings.BALANCE_AUDIT_INTERVAL_SECONDS
    if interval > 0:
        delay = min(interval, _FIRST_AUDIT_DELAY_CAP_SECONDS)
        jobs["metrics:balance-audit"] = audit_forever(interval, first_delay=delay)
    return jobs


async def _open(app: App) -> None:
    settings: Settings = app.ctx.settings
    await init_orm(
        settings.DATABASE_URL,
        settings.DB_POOL_MAX,
        connect_timeout=settings.DB_CONNECT_TIMEOUT_SECONDS,
        command_timeout=settings.DB_COMMAND_TIMEOUT_SECONDS,
    )
    await warm_up(settings.DATABASE_URL)
    app.ctx.rate_limiter = build_rate_limiter(settings.REDIS_URL, settings.RATE_LIMIT_KEY_PREFIX)


async def _start_jobs(app: App) -> None:
    # Files of workers that died without cleaning up would otherwise be summed into /metrics.
    metrics.reap_dead_processes()
    app.ctx.background_jobs = [
        asyncio.create_task(job, name=name) for name, job in background_jobs(app).items()
    ]


async def _stop_jobs(app: App) -> None:
    jobs: list[asyncio.Task[None]] = getattr(app.ctx, "background_jobs", [])
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)


async def _close(app: App) -> None:
    limiter = getattr(app.ctx, "rate_limiter", None)  # absent when opening failed half-way
    if limiter is not None:
        await limiter.close()
    await close_orm()
    metrics.mark_process_dead(os.getpid())


# With thousands of connections open, every request in flight survives the young collections and
# is promoted, so with CPython's thresholds (700, 10, 10) full collections came every few seconds
# and each walked the whole heap (~0.3 s apiece), while finding nothing: the request path
# leaves no reference cycles (0 objects collected in those runs). At 10,000 connections
# (bench/connections.py) collection took 3.6-3.8 s of each worker's CPU in a 22 s work phase,
# about a quarter of it; with these thresholds 0.25-0.6 s. Cycles are still collected, later.
GC_THRESHOLDS = (7000, 10, 100)


async def _tune_garbage_collector(app: App) -> None:
    """Moves everything built so far (modules, models, routes, schemas) out of the collector's
    reach, since it lives as long as the worker (full collections that walked it all were most
    of /earn's p99: bench/api_load.py, 74-94 ms before, 23 ms after, at 64 connections), and
    spaces full collections out (GC_THRESHOLDS). Not under ASGI: there the process belongs to
    the hosting server (or the test suite)."""
    if app.asgi:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def install_lifecycle(app: App) -> None:
    app.before_server_start(_open)
    app.after_server_start(_tune_garbage_collector)
    app.after_server_start(_start_jobs)
    app.before_server_stop(_stop_jobs)
    app.after_server_stop(_close)
