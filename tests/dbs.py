"""Test databases: a fresh SQLite file or a fresh PostgreSQL database per use, dropped afterwards.

Other helpers' test sessions run concurrently on the same PostgreSQL server, so every database
gets a unique name (pid + random suffix) and nothing ever touches a fixed database.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from service.db import sqlite_path

DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
KEEP_TABLES = ("aerich", "sqlite_sequence")


def test_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def _admin_url() -> str:
    # CREATE/DROP DATABASE run from the maintenance database, never from the one being dropped.
    return with_database(test_database_url(), "postgres").replace("postgresql://", "postgres://")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_admin_url(), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def postgres_unreachable_reason() -> str | None:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {test_database_url()} is unreachable: {exc!r}"
    return None


def create_postgres_database(label: str = "t") -> str:
    name = f"test_{label}_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return with_database(test_database_url(), name)


def drop_postgres_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(path: Path) -> str:
    # Three slashes then the absolute path's own: sqlite:////tmp/x.db (SQLAlchemy's convention).
    return f"sqlite:///{path.resolve()}"


async def _truncate_postgres(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"), timeout=5)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] not in KEEP_TABLES
        ]
        # DELETE is much faster than TRUNCATE on tables this small; replica mode skips the
        # foreign-key triggers so the order of tables does not matter.
        statements = "".join(f'DELETE FROM "{t}";' for t in tables)
        if statements:
            await conn.execute(
                f"SET session_replication_role = replica;{statements}SET session_replication_role = DEFAULT;"
            )
    finally:
        await conn.close()


def clean_tables(url: str) -> None:
    """Empties every application table (keeps the migration history)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url), timeout=10) as conn:
            conn.execute("PRAGMA foreign_keys = OFF")
            tables = [
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if row[0] not in KEEP_TABLES
            ]
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')
            conn.execute("DELETE FROM sqlite_sequence")
    else:
        asyncio.run(_truncate_postgres(url))
