"""Background jobs every server worker runs for the metrics: pool sampling and the balance audit.

The audit is scheduled inside the server rather than in Airflow so that it runs wherever the
service runs, with the service's own database settings, and exports its figures through the
same /metrics. Only one worker of a server runs it: the first to take an exclusive `flock` on
a file next to the server's metrics files. The lock dies with its process, so when that
worker exits another one takes the job over at its next attempt. Several instances each
audit (a read-only query) and export the same figure; the alert takes the max.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import logging
import os
from typing import IO

from tortoise import connections

from service.monitoring import metrics
from service.wallet.audit import audit_balances

log = logging.getLogger("service.monitoring.jobs")

POOL_SAMPLE_SECONDS = 1.0
REAP_EVERY_TICKS = 30
AUDIT_LOCK_NAME = "balance-audit.lock"


def pool_usage() -> tuple[int, int, int] | None:
    """(in use, open, max) of the service's asyncpg pool; None on SQLite (no pool) or when the
    ORM is not initialised (yet, or any more)."""
    try:
        (name,) = connections.db_config
        client = connections.get(name)
    except Exception:
        return None
    pool = getattr(client, "_pool", None)
    if pool is None or not hasattr(pool, "get_idle_size"):
        return None
    open_connections = pool.get_size()
    return open_connections - pool.get_idle_size(), open_connections, pool.get_max_size()


async def sample_pool_forever(interval: float = POOL_SAMPLE_SECONDS) -> None:
    """Each second: this worker's pool figures; now and then, drop the live gauges of processes
    that died without saying so (a crashed worker, a killed pipeline run)."""
    for tick in itertools.count():
        usage = pool_usage()
        if usage is not None:
            metrics.set_db_pool(*usage)
        if tick % REAP_EVERY_TICKS == 0:
            metrics.reap_dead_processes()
        await asyncio.sleep(interval)


def _try_lock(path: str) -> IO[str] | None:
    handle = open(path, "a")  # noqa: SIM115 - held open for the life of the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def audit_lock_path() -> str | None:
    """Next to this server's metrics files; None for a single-process server (no rivals)."""
    directory = metrics.multiproc_dir()
    return os.path.join(directory, AUDIT_LOCK_NAME) if directory else None


async def run_audit_once() -> None:
    report = await audit_balances()
    metrics.record_balance_audit(report.discrepancies, report.users_checked, report.seconds)
    if report.discrepancies:
        log.error("balance audit found discrepancies\n%s", report.as_text())
    else:
        log.info("balance audit clean: %d users in %.3f s", report.users_checked, report.seconds)


async def audit_forever(interval: float, first_delay: float = 0.0, lock_path: str | None = None) -> None:
    """Audit every `interval` seconds while this process holds the server-wide audit lock."""
    lock_path = lock_path or audit_lock_path()
    lock: IO[str] | None = None
    await asyncio.sleep(first_delay)
    try:
        while True:
            if lock_path is not None:
                lock = lock or _try_lock(lock_path)
            if lock is not None or lock_path is None:
                try:
                    await run_audit_once()
                except Exception as exc:  # an outage must not end the schedule
                    log.warning("balance audit failed: %s", exc)
            await asyncio.sleep(interval)
    finally:
        if lock is not None:
            lock.close()
