"""Shared fixtures: every API test runs on SQLite and on PostgreSQL, against real databases.

Fixtures other test modules reuse:
- `db_url`        parametrised "sqlite" / "postgres": a database migrated from empty (once per
                  session, by `python -m service migrate`) with every table emptied before the test.
- `settings`      Settings for that database (test secrets, no .env file).
- `app`           create_app(settings).
- `client`        an httpx.AsyncClient talking ASGI to `app` (ORM opened once per test).
- `orm`           the ORM opened on `db_url` without an app (domain-level tests).
- `make_token`    make_token(user_id, **overrides) -> a bearer token signed like the service's.
- `auth_headers`  await auth_headers(user_id) -> {"Authorization": ...} after logging the user in.
- `live_server`   live_server(db_url, workers=1, env=None) -> LiveServer(base_url): a real
                  `python -m service serve` process on a free loopback port (one per database
                  and settings per test module; stopped when the module ends).
Helpers: service_env(url) (the test settings as environment variables), asgi_client(app),
migrate_with_cli(url); tests/dbs.py creates and drops throw-away PostgreSQL databases.
Under CI=true an unreachable PostgreSQL fails the run; locally it skips with the reason.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sanic import Sanic

from service.app import create_app
from service.config import Settings
from service.db import close_orm, init_orm
from tests.dbs import (
    clean_tables,
    create_postgres_database,
    drop_postgres_database,
    postgres_unreachable_reason,
    sqlite_url,
)
from tests.live import LiveServerPool

TEST_JWT_SECRET = "test-jwt-secret-with-at-least-32-characters!"
TEST_ADMIN_TOKEN = "test-admin-token-with-at-least-32-characters"
TEST_AF_SECRET = "test-appsflyer-secret"
TEST_SERVER_KEY = "test-server-key-with-at-least-32-characters"
DIALECTS = ("sqlite", "postgres")
_app_names = itertools.count()


def service_env(database_url: str) -> dict[str, str]:
    """The environment a test service runs with (also handed to live server processes)."""
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ADMIN_TOKEN": TEST_ADMIN_TOKEN,
        "AF_SECRET": TEST_AF_SECRET,
        "ENVIRONMENT": "test",
        "ALLOWED_ORIGINS": "http://localhost:3000,https://game.example",
        # The PostgreSQL server (max_connections 100) is shared by every helper's test run.
        "DB_POOL_MAX": "6",
        # Load tests hammer one user; the per-user wallet limit has its own tests.
        "WALLET_RATE_LIMIT": "1000000/second",
        "SERVER_KEY": TEST_SERVER_KEY,
    }


def production_env() -> dict[str, str]:
    """What production needs on top of service_env (SPEC §1): the catalogue, no bare login."""
    return {
        "ENVIRONMENT": "production",
        "ECONOMY_FILE": str(repo_root() / "economy.example.toml"),
        "AUTH_ALLOW_BARE_LOGIN": "false",
    }


def migrate_with_cli(database_url: str) -> None:
    """`python -m service migrate`, exactly as `make run` does (in its own process, as in
    production, so nothing the test process has loaded can help it)."""
    result = subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        cwd=repo_root(),
        env={**os.environ, **service_env(database_url)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"migrate failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def _postgres_available() -> str | None:
    reason = postgres_unreachable_reason()
    if reason and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    return reason


@pytest.fixture(scope="session")
def migrated_databases(
    tmp_path_factory: pytest.TempPathFactory, _postgres_available: str | None
) -> Iterator[dict[str, str | None]]:
    """One database per dialect for the whole session, migrated from empty by our entry point."""
    urls: dict[str, str | None] = {}
    urls["sqlite"] = sqlite_url(tmp_path_factory.mktemp("db") / "app.db")
    migrate_with_cli(urls["sqlite"])
    urls["postgres"] = None
    if _postgres_available is None:
        urls["postgres"] = create_postgres_database("api")
        migrate_with_cli(urls["postgres"])
    try:
        yield urls
    finally:
        if urls["postgres"]:
            drop_postgres_database(urls["postgres"])


@pytest.fixture(params=DIALECTS)
def db_url(
    request: pytest.FixtureRequest,
    migrated_databases: dict[str, str | None],
    _postgres_available: str | None,
) -> str:
    url = migrated_databases[request.param]
    if url is None:
        pytest.skip(f"LOUD SKIP: {_postgres_available} (set CI=true to make this a failure)")
    clean_tables(url)
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(_env_file=None, **service_env(db_url))


@pytest.fixture
def app(settings: Settings) -> Sanic:
    Sanic.test_mode = True
    return create_app(settings, name=f"test_app_{next(_app_names)}")


@asynccontextmanager
async def asgi_client(app: Sanic) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client speaking ASGI to `app`. Start-up/shut-down listeners (which open and
    close the ORM) run once around the block, not per request as sanic-testing's client does."""
    app.asgi = True
    await app._startup()
    await app._server_event("init", "before")
    await app._server_event("init", "after")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await app._server_event("shutdown", "before")
        await app._server_event("shutdown", "after")


@pytest.fixture
async def client(app: Sanic) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def orm(db_url: str) -> AsyncIterator[str]:
    """The ORM opened on `db_url` without an app, for testing domain modules directly."""
    await init_orm(db_url, pool_max=5)
    try:
        yield db_url
    finally:
        await close_orm()


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(user_id: str, secret: str = TEST_JWT_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
        now = datetime.now(UTC)
        payload = {"sub": user_id, "iat": now, "exp": now + timedelta(minutes=30), **claims}
        return jwt.encode(payload, secret, algorithm=algorithm)

    return make


@pytest.fixture
def auth_headers(client: httpx.AsyncClient) -> Callable[[str], Any]:
    async def headers_for(user_id: str) -> dict[str, str]:
        response = await client.post("/login", json={"userId": user_id})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    return headers_for


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServerPool]:
    pool = LiveServerPool(log_dir=tmp_path_factory.mktemp("live"), env_for=service_env)
    try:
        yield pool
    finally:
        pool.stop_all()


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# --- Process hygiene --------------------------------------------------------------------------
# tests/process_leaks.py fails the run when a process started by the session outlives it;
# pytester runs that check's own tests in a separate pytest process.
pytest_plugins = ["tests.process_leaks", "pytester"]
