"""Database outage against a real server and a real PostgreSQL that the test stops and starts:
503 with `database_unavailable` / `unreachable` while it is gone (never 500, never a hang), and
recovery without a restart when it is back. Also a hung database (processes frozen with
SIGSTOP: connections accepted, never answered), where only timeouts can help."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import migrate_with_cli
from tests.live import LiveServer
from tests.pg_cluster import ThrowawayCluster
from tests.service.conftest import scrape, value, wait_for, wait_for_workers

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# A hang guard only: the server's own timeouts (health probe 1.5 s, connect 2 s, command
# timeout below) answer well before it.
CLIENT_TIMEOUT = 30.0
COMMAND_TIMEOUT = "2"
WORKERS = 2


@pytest.fixture
def server(throwaway_cluster: ThrowawayCluster, live_server) -> Iterator[LiveServer]:
    url = throwaway_cluster.url
    migrate_with_cli(url)
    running = live_server(
        url,
        workers=WORKERS,
        env={
            "DB_POOL_MAX": "4",
            "DB_COMMAND_TIMEOUT_SECONDS": COMMAND_TIMEOUT,
            "BALANCE_AUDIT_INTERVAL_SECONDS": "0",
        },
    )
    wait_for_workers(running, WORKERS)
    try:
        yield running
    finally:
        running.stop()  # before its cluster goes


def _login(http: httpx.Client, user_id: str) -> dict[str, str]:
    response = http.post("/login", json={"userId": user_id})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _assert_database_routes_unavailable(http: httpx.Client, auth: dict[str, str]) -> None:
    health = http.get("/health")
    assert health.status_code == 503
    assert health.json()["database"]["status"] == "unreachable"
    calls = [
        http.get("/balance", headers=auth),
        http.post("/earn", json={"amount": 5, "reason": "quest"}, headers=auth),
        http.post("/spend", json={"amount": 1, "reason": "shop"}, headers=auth),
        http.post("/event", json={"eventType": "level_up"}, headers=auth),
        http.get("/events", headers=auth),
        http.post("/login", json={"userId": "newcomer"}),
    ]
    for response in calls:
        assert response.status_code == 503, (response.request.url, response.text)
        body = response.json()
        assert body["error"] == "database_unavailable"
        assert body["requestId"] == response.headers["X-Request-ID"]
        assert response.headers["Retry-After"]


def _assert_recovered(http: httpx.Client, auth: dict[str, str]) -> None:
    wait_for(lambda: http.get("/health").status_code == 200)
    assert http.get("/health").json()["database"]["status"] == "connected"
    earned = http.post("/earn", json={"amount": 5, "reason": "back"}, headers=auth)
    assert earned.status_code == 200, earned.text
    # Nothing attempted during the outage was applied.
    assert earned.json()["balance"] == 5
    assert http.post("/event", json={"eventType": "level_up"}, headers=auth).status_code == 200
    _login(http, "after-the-outage")


def test_stopped_database_answers_503_and_recovers(
    server: LiveServer, throwaway_cluster: ThrowawayCluster
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as http:
        auth = _login(http, "player")
        throwaway_cluster.stop()
        for _ in range(3):  # every worker, fresh and pooled connections alike
            _assert_database_routes_unavailable(http, auth)
        samples = scrape(server.base_url)  # /metrics needs no database
        assert value(samples, "http_request_errors_total", route="/balance", status_class="5xx") >= 3
        statuses = {dict(labels)["status"] for name, labels in samples if name == "http_requests_total"}
        assert "503" in statuses and "500" not in statuses

        throwaway_cluster.start()
        _assert_recovered(http, auth)


def _cluster_pids(cluster: ThrowawayCluster) -> list[int]:
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout
    return [postmaster, *map(int, children.split())]


def test_hung_database_answers_503_and_recovers(
    server: LiveServer, throwaway_cluster: ThrowawayCluster
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as http:
        auth = _login(http, "player")
        pids = _cluster_pids(throwaway_cluster)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            _assert_database_routes_unavailable(http, auth)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        _assert_recovered(http, auth)
