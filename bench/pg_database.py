"""A throw-away PostgreSQL database per benchmark run: create, migrate, seed, drop."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import jwt

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
FALLBACK_SCHEMA = BENCH_DIR / "yardstick_schema.sql"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
USER_ID_PREFIX = "bench-user-"
TOKEN_TTL_SECONDS = 6 * 3600


def server_url() -> str:
    """The PostgreSQL server to create databases on (its `postgres` maintenance db)."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    return with_database(url or DEFAULT_SERVER_URL, "postgres")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def new_database_name(label: str) -> str:
    return f"bench_{label}_{os.getpid()}_{secrets.token_hex(4)}"


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(server_url())
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(name: str) -> str:
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return with_database(server_url(), name)


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _backend_pids(database: str) -> list[int]:
    conn = await asyncpg.connect(server_url())
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backend processes serving `database` (the app's pooled connections)."""
    return asyncio.run(_backend_pids(database))


def service_available() -> bool:
    """True when the service package (and so its migration entry point) is importable."""
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('service') is None)"
    return subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT).returncode == 0


def migrate_with_service(env: dict[str, str]) -> None:
    """Migrate with the service's own entry point, exactly as production does."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"  migrated with `python -m service migrate` in {time.monotonic() - started:.1f}s")


async def _apply_fallback_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(FALLBACK_SCHEMA.read_text())
    finally:
        await conn.close()


def apply_fallback_schema(url: str) -> None:
    asyncio.run(_apply_fallback_schema(url))


# Tortoise fills some NOT NULL columns (timestamps) in Python, so the table may have no
# database default for them; seeding by SQL must supply a value.
_FILL_BY_TYPE = {
    "timestamp with time zone": "now()",
    "timestamp without time zone": "now()",
    "date": "current_date",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "boolean": "false",
    "character varying": "''",
    "text": "''",
}


async def _seed_users(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE"
            " table_name = 'users' AND table_schema = 'public' AND is_nullable = 'NO'"
            " AND column_default IS NULL AND column_name NOT IN ('user_id', 'balance')"
        )
        extra_columns = [r["column_name"] for r in rows]
        extra_values = [_FILL_BY_TYPE[r["data_type"]] for r in rows]
        columns = ", ".join(["user_id", "balance", *extra_columns])
        values = ", ".join([f"'{USER_ID_PREFIX}' || g", "0", *extra_values])
        await conn.execute(
            f"INSERT INTO users ({columns}) SELECT {values} FROM generate_series(1, $1) AS g",
            count,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def seed_users(url: str, count: int) -> None:
    asyncio.run(_seed_users(url, count))


def write_token_table(path: Path, secret: str, count: int) -> None:
    """Pre-sign one JWT per seeded user into a Lua file that returns them as an array."""
    now = int(time.time())
    lines = ["return {"]
    for index in range(1, count + 1):
        claims = {"sub": f"{USER_ID_PREFIX}{index}", "iat": now, "exp": now + TOKEN_TTL_SECONDS}
        lines.append(f'"{jwt.encode(claims, secret, algorithm="HS256")}",')
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
