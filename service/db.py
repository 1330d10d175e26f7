"""Database wiring: Tortoise config for SQLite and PostgreSQL, and the Aerich migration entry point.

The schema is owned by the Aerich histories under migrations/<dialect>/ (Aerich writes SQL for the
dialect it ran against, so each dialect keeps its own history of the same models).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection

log = logging.getLogger("service.db")

Dialect = Literal["sqlite", "postgres"]
MODEL_MODULES = ["service.models", "aerich.models"]
APP_LABEL = "models"
# The histories sit beside the package in a checkout; an installed package (the API image) is
# told where they are.
MIGRATIONS_ROOT = Path(
    os.environ.get("MIGRATIONS_DIR") or Path(__file__).resolve().parent.parent / "migrations"
)
# How long a write waits for SQLite's database write lock held by another process (a second
# worker, the pipeline, a migration) before failing with "database is locked" (503).
# Inside one process writes are already serialised: Tortoise's SQLite client has one
# connection and holds its asyncio lock for a whole transaction, so at most one writer per
# process ever waits on the file lock, and an extra asyncio.Lock of ours would add nothing.
# Across processes SQLite's busy handler is not fair: the waiter sleeps and re-polls (every
# 100 ms after the first ~0.3 s) while the holder, with requests queued, takes the lock again
# within a fraction of a millisecond of each COMMIT. On a loaded machine a waiter can lose many
# polls in a row, bounded only by how long the other process keeps finding queued writes; at
# 10 s this starved writers into 503s under load. So the wait is as long as a request may take
# at all: Sanic's RESPONSE_TIMEOUT (60 s) answers 503 after that anyway, and 55 s leaves the
# client our JSON 503 with Retry-After instead. Correct for any number of workers: the lock is
# SQLite's own; only how long we wait for it changes.
SQLITE_BUSY_TIMEOUT_MS = 55_000


def dialect_of(database_url: str) -> Dialect:
    scheme = database_url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql"):
        return "postgres"
    raise ValueError(f"DATABASE_URL scheme {scheme!r} is not supported (sqlite or postgresql)")


def sqlite_path(database_url: str) -> str:
    """`sqlite:///data/app.db` and `sqlite://data/app.db` are relative, `sqlite:////abs` absolute."""
    rest = database_url.split(":", 1)[1]
    if rest.startswith("///"):
        return rest[3:]
    return rest.removeprefix("//")


async def keep_session_state(connection: Any) -> None:
    """asyncpg's pool reset for connections returned to the pool: nothing beyond its built-in
    rollback of an open transaction. The default also runs `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` -- one more round trip on every release, for session
    state (advisory locks, cursors, LISTEN, SET) this service never creates."""


# An outage must turn into a prompt 503, not a request stuck on a dead socket: asyncpg's
# connect timeout (default 60 s) and per-statement command timeout (default none) are bounded.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 2.0
DEFAULT_COMMAND_TIMEOUT_SECONDS = 5.0


def connection_config(
    database_url: str,
    pool_max: int = 20,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    if dialect_of(database_url) == "sqlite":
        path = sqlite_path(database_url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": path,
                "journal_mode": "WAL",
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "synchronous": "NORMAL",
            },
        }
    # Tortoise's own URL parser: query options arrive typed (statement_cache_size=0 is the int
    # 0 asyncpg needs behind PgBouncer), the password unquoted; what the URL leaves out is None.
    from_url = {k: v for k, v in expand_db_url(database_url)["credentials"].items() if v is not None}
    if isinstance(from_url.get("user"), str):
        from_url["user"] = unquote(from_url["user"])
    return {
        "engine": "tortoise.backends.asyncpg",
        "credentials": {
            "host": "127.0.0.1",
            "user": "postgres",
            "password": "",
            "database": "postgres",
            "minsize": 1,
            "maxsize": pool_max,
            "timeout": connect_timeout,
            "command_timeout": command_timeout,
            "reset": keep_session_state,
            **from_url,
        },
    }


def tortoise_config(
    database_url: str,
    pool_max: int = 20,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    # The connection is named after its dialect: Tortoise caches compiled SQL per connection
    # name, so one process (e.g. the test suite) may use SQLite and PostgreSQL in turn.
    connection_name = dialect_of(database_url)
    return {
        "connections": {
            connection_name: connection_config(database_url, pool_max, connect_timeout, command_timeout)
        },
        "apps": {APP_LABEL: {"models": MODEL_MODULES, "default_connection": connection_name}},
        "use_tz": True,
        "timezone": "UTC",
    }


def migrations_location(database_url: str) -> Path:
    return MIGRATIONS_ROOT / dialect_of(database_url)


async def init_orm(
    database_url: str,
    pool_max: int = 20,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT_SECONDS,
) -> None:
    """The timeouts are in seconds and apply to PostgreSQL only."""
    # Sanic handles requests in tasks that do not inherit the listener's context, so the ORM
    # context must be reachable process-wide (Tortoise 1.x keeps it in a context variable).
    await Tortoise.init(
        config=tortoise_config(database_url, pool_max, connect_timeout, command_timeout),
        _enable_global_fallback=True,
    )


async def warm_up(database_url: str) -> bool:
    """Opens the connection (pool) before traffic arrives.

    Tortoise's SQLite client takes its connection lock and then connects lazily; a request
    cancelled in between (a client giving up on the very first request) leaks that lock and
    hangs the worker for good. Connecting here, where nothing cancels it, avoids that. A database
    that is down only logs a warning: the service still starts and /health answers 503 until it is back.
    """
    try:
        await get_connection(dialect_of(database_url)).execute_query("SELECT 1")
    except Exception as exc:  # any driver or network failure
        log.warning("database not reachable at start-up: %s", exc)
        return False
    return True


_UNAVAILABLE = (
    OSError,  # includes ConnectionError and Tortoise's DBConnectionError
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,  # e.g. "too many clients"
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, query cancelled
    asyncpg.exceptions.InterfaceError,
)
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database")


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) means the database cannot serve right now, as
    opposed to a bug in a query: the client should get 503 and retry, not 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, sqlite3.OperationalError) and str(current).startswith(_SQLITE_UNAVAILABLE):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def close_orm() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str) -> list[str]:
    """Apply every pending Aerich migration of the URL's dialect; returns the applied versions."""
    from aerich import Command

    command = Command(
        tortoise_config=tortoise_config(database_url, pool_max=2, command_timeout=None),
        app=APP_LABEL,
        location=str(migrations_location(database_url)),
    )
    await command.init()
    try:
        applied = await command.upgrade(run_in_transaction=True)
    finally:
        await command.aclose()
    for version in applied:
        log.info("applied migration %s", version)
    return applied
