"""A real server with 2 worker processes: the Redis-backed limits and postback dedupe hold across them.

Every request opens its own connection, so the kernel spreads them over both workers (with
SO_REUSEPORT the chance that 20 connections all land on one worker is 2**-19).
"""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest
import redis

from service.models import Event, RawPostback
from service.postbacks.rules import sign
from tests.conftest import TEST_AF_SECRET
from tests.service.postbacks.test_routes import postback_body

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RUN_PREFIX = f"test-attribution-{os.getpid()}-{uuid.uuid4().hex[:8]}"
TRACK_LIMIT = 10


@pytest.fixture(scope="module")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    yield REDIS_URL
    keys = list(client.scan_iter(f"{RUN_PREFIX}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def server(live_server, db_url, redis_url):
    dialect = "sqlite" if db_url.startswith("sqlite") else "postgres"
    server = live_server(
        db_url,
        workers=2,
        env={
            "REDIS_URL": redis_url,
            "RATE_LIMIT_KEY_PREFIX": f"{RUN_PREFIX}-{dialect}",
            "TRACK_RATE_LIMIT": f"{TRACK_LIMIT}/minute",
        },
    )
    # The pool returns once one worker answers; on a busy machine the second may still be
    # starting, so let a few fresh connections get any answer before the bursts.
    for _ in range(8):
        httpx.get(f"{server.base_url}/health", timeout=60)
    return server


async def _fresh_connection_get(base_url: str, path: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return (await http.get(path)).status_code


async def test_track_limit_holds_across_two_workers(server):
    statuses = await asyncio.gather(
        *(_fresh_connection_get(server.base_url, "/track?campaign=live") for _ in range(2 * TRACK_LIMIT))
    )
    assert sorted(statuses) == [200] * TRACK_LIMIT + [429] * TRACK_LIMIT
    assert "RATE LIMITS ARE PER WORKER" not in server.log()


async def _post_fresh(base_url: str, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.post(
            "/af/postback", content=body, headers={"X-AF-Signature": sign(TEST_AF_SECRET, body)}
        )


async def test_identical_postbacks_across_two_workers_make_one_row(server, orm):
    body = postback_body(event_time=None)
    answers = await asyncio.gather(*(_post_fresh(server.base_url, body) for _ in range(12)))
    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers if a.status_code != 200]
    assert len({(a.json()["postbackId"], a.json()["eventId"]) for a in answers}) == 1
    assert await RawPostback.all().count() == 1 and await Event.all().count() == 1


def test_several_workers_without_redis_warn_loudly_in_development(live_server, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("one dialect is enough for a start-up warning")
    server = live_server(db_url, workers=2)
    assert "RATE LIMITS ARE PER WORKER" in server.log()
