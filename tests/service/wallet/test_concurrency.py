"""Races through a real server: a `python -m service serve` process with two workers, hammered by
an async client that keeps hundreds of requests in flight, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.service.helpers import ledger_matches_balance

WORKERS = 2  # two processes: the row lock / write lock must hold across processes
IN_FLIGHT = 250

pytestmark = pytest.mark.slow


async def _fire(http: httpx.AsyncClient, requests: list[tuple[str, dict, dict]]) -> list[httpx.Response]:
    gate = asyncio.Event()

    async def one(path: str, body: dict, headers: dict) -> httpx.Response:
        await gate.wait()  # release them together so they really overlap
        return await http.post(path, json=body, headers=headers)

    tasks = [asyncio.create_task(one(*r)) for r in requests]
    await asyncio.sleep(0)
    gate.set()
    return await asyncio.gather(*tasks)


@pytest.fixture
async def live_http(live_server, db_url):
    server = live_server(db_url, workers=WORKERS)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:
        yield http


async def _login(http: httpx.AsyncClient, user_id: str) -> dict[str, str]:
    response = await http.post("/login", json={"userId": user_id})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    return {"Authorization": f"Bearer {token}"}


async def test_500_concurrent_earns_add_exactly(live_http):
    headers = await _login(live_http, "race_earn")
    responses = await _fire(live_http, [("/earn", {"amount": 7, "reason": "race"}, headers)] * 500)
    assert Counter(r.status_code for r in responses) == {200: 500}
    assert sorted(r.json()["balance"] for r in responses) == list(range(7, 3501, 7))
    assert await ledger_matches_balance(live_http, headers) == 3500


async def test_100_concurrent_spends_never_overdraw(live_http):
    headers = await _login(live_http, "race_spend")
    await live_http.post("/earn", json={"amount": 500, "reason": "seed"}, headers=headers)
    responses = await _fire(live_http, [("/spend", {"amount": 10, "reason": "race"}, headers)] * 100)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 50, 409: 50}
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"insufficient_funds"}
    assert min(r.json()["balance"] for r in responses if r.status_code == 200) == 0
    assert await ledger_matches_balance(live_http, headers) == 0


async def test_50_concurrent_requests_with_one_key_apply_once(live_http):
    headers = {**(await _login(live_http, "race_key")), "Idempotency-Key": "one-key"}
    responses = await _fire(live_http, [("/earn", {"amount": 9, "reason": "race"}, headers)] * 50)
    applied = [r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers]
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(applied) == 1
    assert len(applied) + len(replayed) + len(conflicts) == 50
    assert all(r.json() == {"ok": True, "balance": 9} for r in replayed)
    assert all(r.json()["error"] == "idempotency_conflict" for r in conflicts)
    assert await ledger_matches_balance(live_http, headers) == 9
    print(f"one key x50: applied 1, replayed {len(replayed)}, in-flight 409s {len(conflicts)}")
