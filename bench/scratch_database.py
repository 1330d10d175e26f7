"""A throw-away PostgreSQL database for one benchmark run, migrated by the service's own CLI.

On BENCH_DATABASE_URL / TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432); the name
carries pid + random suffix because other jobs use the same server at the same time.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


async def _admin(server: str, statement: str) -> None:
    conn = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """Yields the URL of a fresh database migrated with `python -m service migrate`; drops it."""
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER
    name = f"bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = with_database(server, name)
    try:
        subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=REPO_ROOT,
                       env={**os.environ, "DATABASE_URL": url}, check=True, capture_output=True)
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
