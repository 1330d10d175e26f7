"""/metrics on a real two-worker server on PostgreSQL: counters move with real requests and every
scrape, whichever worker answers it, shows the sum over both workers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import TEST_AF_SECRET
from tests.live import LiveServer
from tests.service.conftest import Samples, scrape, value, wait_for, wait_for_workers

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 2
POOL_MAX = 3
LOGINS = 24


@pytest.fixture(scope="module")
def multiproc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def server(postgres_url: str, multiproc_dir: Path, live_server) -> Iterator[LiveServer]:
    yield wait_for_workers(
        live_server(
            postgres_url,
            workers=WORKERS,
            env={
                "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
                "DB_POOL_MAX": str(POOL_MAX),
                "BALANCE_AUDIT_INTERVAL_SECONDS": "0.5",
                "LOGIN_RATE_LIMIT": "10000/minute",  # dozens of logins from one test client
            },
        ),
        WORKERS,
    )


def _fresh_connection_client(base_url: str) -> httpx.Client:
    # No keep-alive: every request opens a connection, so the kernel spreads them over workers.
    return httpx.Client(base_url=base_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def _ok(samples: Samples, route: str, method: str, status: str) -> float:
    return value(samples, "http_requests_total", method=method, route=route, status=status) or 0.0


def test_metrics_need_the_admin_token(server: LiveServer) -> None:
    missing = httpx.get(f"{server.base_url}/metrics")
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    wrong = httpx.get(f"{server.base_url}/metrics", headers={"X-Admin-Token": "nope"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"


def test_request_counters_are_summed_over_workers(server: LiveServer, multiproc_dir: Path) -> None:
    before = scrape(server.base_url)
    with _fresh_connection_client(server.base_url) as http:
        tokens = []
        for index in range(LOGINS):
            response = http.post("/login", json={"userId": f"metrics-{index}"})
            assert response.status_code == 200
            tokens.append(response.json()["token"])
        for token in tokens[:10]:
            assert http.get("/balance", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        for index in range(5):
            assert http.get(f"/no/such/path/{index}").status_code == 404
        assert http.get("/balance").status_code == 401

    # Both workers served logins (each writes its own file), so the scrapes below must sum.
    logins_per_worker = [
        sample.value
        for path in multiproc_dir.glob("counter_*.db")
        for family in MultiProcessCollector.merge([str(path)])
        for sample in family.samples
        if sample.name == "http_requests_total"
        and sample.labels["route"] == "/login"
        and sample.labels["status"] == "200"
    ]
    assert len([n for n in logins_per_worker if n > 0]) == WORKERS, logins_per_worker

    for _ in range(6):  # scrapes land on either worker; every one must show the full sum
        after = scrape(server.base_url)
        assert _ok(after, "/login", "POST", "200") - _ok(before, "/login", "POST", "200") == LOGINS
        assert _ok(after, "/balance", "GET", "200") - _ok(before, "/balance", "GET", "200") == 10
        assert _ok(after, "/balance", "GET", "401") - _ok(before, "/balance", "GET", "401") == 1
        assert _ok(after, "<unmatched>", "GET", "404") - _ok(before, "<unmatched>", "GET", "404") == 5
        errors = value(after, "http_request_errors_total", route="/balance", status_class="4xx")
        assert errors is not None and errors >= 1
        count = value(
            after, "http_request_duration_seconds_count", method="POST", route="/login", status="200"
        )
        assert count == _ok(after, "/login", "POST", "200")
    # Raw paths never become labels.
    assert not any("/no/such/path" in str(labels) for _, labels in after)


def test_wallet_writes_and_idempotent_replays_are_counted(server: LiveServer) -> None:
    before = scrape(server.base_url)
    with _fresh_connection_client(server.base_url) as http:
        auth = {"Authorization": f"Bearer {http.post('/login', json={'userId': 'spender'}).json()['token']}"}
        for _ in range(3):
            assert http.post("/earn", json={"amount": 10, "reason": "quest"}, headers=auth).status_code == 200
        assert http.post("/spend", json={"amount": 5, "reason": "shop"}, headers=auth).status_code == 200
        assert http.post("/spend", json={"amount": 999, "reason": "shop"}, headers=auth).status_code == 409
        keyed = {**auth, "Idempotency-Key": "retry-me"}
        for _ in range(4):  # one write, three replays, spread over both workers
            assert http.post("/earn", json={"amount": 1, "reason": "retry"}, headers=keyed).status_code == 200
    after = scrape(server.base_url)

    def delta(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0.0) - (value(before, name, **labels) or 0.0)

    assert delta("wallet_writes_total", kind="earn") == 4
    assert delta("wallet_writes_total", kind="spend") == 1
    assert delta("idempotent_replays_total", endpoint="/earn") == 3
    assert delta("http_requests_total", method="POST", route="/spend", status="409") == 1


def test_pool_gauges_cover_every_worker(server: LiveServer) -> None:
    samples = wait_for(
        lambda: (
            (s := scrape(server.base_url)) and value(s, "db_pool_connections_max") == WORKERS * POOL_MAX and s
        )
    )
    assert 0 <= value(samples, "db_pool_connections_in_use") <= WORKERS * POOL_MAX
    assert 1 <= value(samples, "db_pool_connections_open") <= WORKERS * POOL_MAX


def test_scheduled_audit_exports_discrepancies(server: LiveServer, postgres_url: str) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.post("/login", json={"userId": "audited"}).status_code == 200
    wait_for(
        lambda: (
            value(scrape(server.base_url), "balance_discrepancies") == 0
            and value(scrape(server.base_url), "balance_audit_users_checked") >= 1
        )
    )

    async def tamper(delta: int) -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute("UPDATE users SET balance = balance + $1 WHERE user_id = 'audited'", delta)
        finally:
            await conn.close()

    asyncio.run(tamper(7))
    try:
        wait_for(lambda: value(scrape(server.base_url), "balance_discrepancies") == 1)
    finally:
        asyncio.run(tamper(-7))
    wait_for(lambda: value(scrape(server.base_url), "balance_discrepancies") == 0)
    assert value(scrape(server.base_url), "balance_audit_last_success_timestamp_seconds") > 0


def test_open_connections_and_in_flight_requests_are_tracked(server: LiveServer) -> None:
    idle = [httpx.Client(base_url=server.base_url, timeout=30) for _ in range(3)]
    try:
        for client in idle:  # each leaves one keep-alive connection open
            assert client.get("/health").status_code == 200
        # The scrape's own connection and request count too.
        samples = wait_for(
            lambda: (s := scrape(server.base_url)) and value(s, "http_connections_open") == 4 and s
        )
        assert value(samples, "http_requests_in_flight") == 1
    finally:
        for client in idle:
            client.close()
    wait_for(lambda: value(scrape(server.base_url), "http_connections_open") == 1)


def test_client_disconnect_is_counted_as_499_not_as_a_server_error(
    server: LiveServer, postgres_url: str
) -> None:
    """A request the client abandons must not raise the 5xx error rate."""
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        token = http.post("/login", json={"userId": "impatient"}).json()["token"]

    async def abandon_a_blocked_request() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            async with conn.transaction():
                # Every query on users now waits, so /balance stays in its handler.
                await conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                async with httpx.AsyncClient(base_url=server.base_url) as http:
                    request = asyncio.create_task(
                        http.get("/balance", headers={"Authorization": f"Bearer {token}"})
                    )
                    for _ in range(300):
                        if await conn.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock'"
                        ):
                            break
                        await asyncio.sleep(0.1)
                    request.cancel()  # the client hangs up while the handler waits
                    await asyncio.gather(request, return_exceptions=True)
        finally:
            await conn.close()

    asyncio.run(abandon_a_blocked_request())
    samples = wait_for(lambda: (s := scrape(server.base_url)) and _ok(s, "/balance", "GET", "499") == 1 and s)
    assert _ok(samples, "/balance", "GET", "500") == 0


def test_postbacks_are_counted_by_outcome(server: LiveServer) -> None:
    body = json.dumps(
        {"event_name": "af_purchase", "appsflyer_id": "af-metrics-1", "event_revenue_usd": 1.99}
    ).encode()
    signature = hmac.new(TEST_AF_SECRET.encode(), body, hashlib.sha256).hexdigest()
    before = scrape(server.base_url)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for _ in range(2):  # the retry is a duplicate
            sent = http.post("/af/postback", content=body, headers={"X-AF-Signature": signature})
            assert sent.status_code == 200, sent.text
        forged = http.post("/af/postback", content=body, headers={"X-AF-Signature": "0" * 64})
        assert forged.status_code == 401
    after = scrape(server.base_url)
    for outcome in ("accepted", "duplicate", "invalid_signature"):
        assert (value(after, "postbacks_total", outcome=outcome) or 0) - (
            value(before, "postbacks_total", outcome=outcome) or 0
        ) == 1, outcome
