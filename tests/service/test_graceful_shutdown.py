"""SIGTERM against a real server: a wallet write in flight finishes (committed, answered) before
the server exits; one that outlives the grace period is rolled back, never half-written."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.live import LiveServer
from tests.service.conftest import wait_for_workers
from tests.service.helpers import wait_until_blocked_on_a_lock

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

GRACE_SECONDS = 2
WORKERS = 2


@pytest.fixture
async def row_lock(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A separate session that can hold a user's row lock, so a wallet write waits on it."""
    conn = await asyncpg.connect(postgres_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _hold_user_lock(conn: asyncpg.Connection, user_id: str) -> asyncpg.transaction.Transaction:
    tx = conn.transaction()
    await tx.start()
    await conn.execute("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE", user_id)
    return tx


async def _ledger(conn: asyncpg.Connection, user_id: str) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT u.balance, COALESCE(SUM(l.delta), 0) AS total, COUNT(l.id) AS entries"
        " FROM users u LEFT JOIN wallet_ledger l ON l.user_id = u.id"
        " WHERE u.user_id = $1 GROUP BY u.id",
        user_id,
    )
    return row["balance"], row["total"], row["entries"]


def _start_earn(base_url: str, token: str, results: list) -> threading.Thread:
    def earn() -> None:
        try:
            results.append(
                httpx.post(
                    f"{base_url}/earn",
                    json={"amount": 25, "reason": "in flight"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
            )
        except httpx.TransportError as exc:
            results.append(exc)

    thread = threading.Thread(target=earn)
    thread.start()
    return thread


def _login(base_url: str, user_id: str) -> str:
    response = httpx.post(f"{base_url}/login", json={"userId": user_id}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _server(live_server, postgres_url: str, grace: int) -> LiveServer:
    server = live_server(
        postgres_url,
        workers=WORKERS,
        env={
            "SANIC_GRACEFUL_SHUTDOWN_TIMEOUT": str(grace),
            "BALANCE_AUDIT_INTERVAL_SECONDS": "0",
        },
    )
    # A signal that reaches a worker still importing the app interrupts its start-up instead.
    return wait_for_workers(server, WORKERS)


async def test_sigterm_lets_an_in_flight_earn_commit(
    postgres_url: str, live_server, row_lock: asyncpg.Connection
) -> None:
    server = _server(live_server, postgres_url, grace=30)
    token = _login(server.base_url, "graceful")
    tx = await _hold_user_lock(row_lock, "graceful")
    results: list = []
    thread = _start_earn(server.base_url, token, results)
    await wait_until_blocked_on_a_lock(row_lock, "the earn")

    server.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)  # let the workers begin shutting down while the earn waits
    assert server.process.poll() is None, "server exited with a request in flight"
    await tx.commit()
    await asyncio.to_thread(thread.join, 60)
    exit_code = await asyncio.to_thread(server.process.wait, 60)

    (response,) = results
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200 and response.json()["balance"] == 25
    assert await _ledger(row_lock, "graceful") == (25, 25, 1)
    assert exit_code == 0, server.log()


async def test_write_outliving_the_grace_period_is_rolled_back(
    postgres_url: str, live_server, row_lock: asyncpg.Connection
) -> None:
    server = _server(live_server, postgres_url, grace=GRACE_SECONDS)
    token = _login(server.base_url, "cut-off")
    tx = await _hold_user_lock(row_lock, "cut-off")
    results: list = []
    thread = _start_earn(server.base_url, token, results)
    await wait_until_blocked_on_a_lock(row_lock, "the earn")

    server.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(thread.join, 60)  # the server gives up on it after the grace period
    await tx.rollback()
    await asyncio.to_thread(server.process.wait, 60)

    (outcome,) = results
    assert isinstance(outcome, httpx.TransportError) or outcome.status_code >= 500
    assert await _ledger(row_lock, "cut-off") == (0, 0, 0)
