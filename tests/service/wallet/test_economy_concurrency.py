"""Economy caps under concurrency through a real 2-worker server (SPEC §3b): the caps are
counted under the user row lock, so no burst can pass them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.conftest import TEST_SERVER_KEY
from tests.service.helpers import ledger_matches_balance

pytestmark = pytest.mark.slow

CATALOGUE = """
[earn.level_complete]
max_amount = 100
daily_cap = 1000

[earn.daily_login_bonus]
max_amount = 100
daily_count = 1

[earn.ad_reward]
max_amount = 5
cooldown_seconds = 3600

[earn.purchase]
max_amount = 100000
server_only = true
"""


@pytest.fixture(scope="module")
def economy_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("economy") / "economy.toml"
    path.write_text(CATALOGUE)
    return str(path)


@pytest.fixture
async def live_http(live_server, db_url, economy_file):
    server = live_server(db_url, workers=2, env={"ECONOMY_FILE": economy_file, "MAX_BALANCE": "5000"})
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:
        yield http


async def _burst(http: httpx.AsyncClient, n: int, path: str, body: dict, headers: dict) -> Counter:
    gate = asyncio.Event()

    async def one() -> int:
        await gate.wait()
        return (await http.post(path, json=body, headers=headers)).status_code

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0)
    gate.set()
    return Counter(await asyncio.gather(*tasks))


async def _player(http: httpx.AsyncClient, user_id: str) -> dict[str, str]:
    response = await http.post("/login", json={"userId": user_id})
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_daily_cap_holds_under_100_concurrent_earns(live_http):
    headers = await _player(live_http, "capped")
    statuses = await _burst(live_http, 100, "/earn", {"amount": 100, "reason": "level_complete"}, headers)
    assert statuses == Counter({200: 10, 429: 90})
    assert await ledger_matches_balance(live_http, headers) == 1000


async def test_daily_count_of_one_applies_once_under_a_burst(live_http):
    headers = await _player(live_http, "bonus")
    statuses = await _burst(live_http, 50, "/earn", {"amount": 100, "reason": "daily_login_bonus"}, headers)
    assert statuses == Counter({200: 1, 429: 49})
    assert await ledger_matches_balance(live_http, headers) == 100


async def test_cooldown_holds_under_a_burst(live_http):
    headers = await _player(live_http, "watcher")
    statuses = await _burst(live_http, 30, "/earn", {"amount": 5, "reason": "ad_reward"}, headers)
    assert statuses == Counter({200: 1, 429: 29})
    assert await ledger_matches_balance(live_http, headers) == 5


async def test_server_grants_bypass_caps_but_not_max_balance(live_http):
    headers = await _player(live_http, "whale")
    server = {"X-Server-Key": TEST_SERVER_KEY}
    body = {"userId": "whale", "amount": 100, "reason": "level_complete"}
    # 60 x 100 of a reason capped at 1000 a day for clients; MAX_BALANCE is 5000.
    statuses = await _burst(live_http, 60, "/server/earn", body, server)
    assert statuses == Counter({200: 50, 409: 10})
    assert await ledger_matches_balance(live_http, headers) == 5000
