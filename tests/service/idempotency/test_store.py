"""Idempotency-Key (SPEC §3): replay, reuse, in flight, quoting, expiry, scope, purge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.idempotency.store import IdempotencyStore, fingerprint
from service.models import IdempotencyKey
from tests.conftest import asgi_client

EARN = {"amount": 40, "reason": "quest"}


async def _earn(client, headers, key, body=EARN, path="/earn"):
    return await client.post(path, json=body, headers={**headers, "Idempotency-Key": key})


async def test_replay_returns_stored_response_without_side_effect(client, auth_headers):
    headers = await auth_headers("idem_user")
    first = await _earn(client, headers, "abc-1")
    again = await _earn(client, headers, "abc-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() == {"ok": True, "balance": 40}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (await client.get("/balance", headers=headers)).json()["balance"] == 40
    assert (await client.get("/ledger", headers=headers)).json()["total"] == 1


async def test_same_key_with_key_order_changed_is_the_same_request(client, auth_headers):
    headers = await auth_headers("idem_order")
    await _earn(client, headers, "k")
    again = await client.post(
        "/earn",
        content=b'{ "reason": "quest",  "amount": 40 }',
        headers={**headers, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_reuse_with_another_body_is_422(client, auth_headers):
    headers = await auth_headers("idem_reuse")
    await _earn(client, headers, "abc-2")
    response = await _earn(client, headers, "abc-2", {"amount": 41, "reason": "quest"})
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert (await client.get("/balance", headers=headers)).json()["balance"] == 40


async def test_quoted_and_bare_key_are_the_same(client, auth_headers):
    headers = await auth_headers("idem_quoted")
    await _earn(client, headers, '"quoted-key"')
    again = await _earn(client, headers, "quoted-key")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await client.get("/ledger", headers=headers)).json()["entries"][0][
        "idempotencyKey"
    ] == "quoted-key"


@pytest.mark.parametrize("bad_key", ["", '""', "x" * 256, "tab\there", "ünicode"])
async def test_invalid_key_is_422(client, auth_headers, bad_key):
    headers = await auth_headers("idem_bad")
    response = await client.post(
        "/earn", json=EARN, headers={**headers, "Idempotency-Key": bad_key.encode("utf-8")}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "Idempotency-Key"
    assert (await client.get("/balance", headers=headers)).json()["balance"] == 0


async def test_key_in_flight_is_409_and_applies_nothing(client, auth_headers):
    headers = await auth_headers("idem_flight")
    # The first request's claim row, exactly as IdempotencyStore writes it before the side effect.
    now = datetime.now(UTC)
    await IdempotencyKey.create(
        user_id="idem_flight",
        endpoint="/earn",
        key="busy",
        status_code=None,
        response_data="",
        request_fingerprint=fingerprint('{"amount":40,"reason":"quest"}'),
        created_at=now,
        expires_at=now + timedelta(hours=24),
    )
    response = await _earn(client, headers, "busy")
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert (await client.get("/balance", headers=headers)).json()["balance"] == 0


async def test_abandoned_claim_is_taken_over_after_the_lease(client, auth_headers):
    headers = await auth_headers("idem_dead")
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    await IdempotencyKey.create(
        user_id="idem_dead",
        endpoint="/earn",
        key="dead",
        status_code=None,
        response_data="",
        request_fingerprint=fingerprint('{"amount":40,"reason":"quest"}'),
        created_at=long_ago,
        expires_at=long_ago + timedelta(hours=24),
    )
    response = await _earn(client, headers, "dead")
    assert response.status_code == 200 and response.json()["balance"] == 40


async def test_expired_key_is_new_again(client, auth_headers):
    headers = await auth_headers("idem_expiry")
    await _earn(client, headers, "old")
    await IdempotencyKey.filter(key="old").update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    again = await _earn(client, headers, "old")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert again.json()["balance"] == 80
    assert await IdempotencyKey.filter(key="old").count() == 1


async def test_purge_removes_only_expired_keys(client, auth_headers):
    headers = await auth_headers("idem_purge")
    await _earn(client, headers, "keep")
    await _earn(client, headers, "drop")
    await IdempotencyKey.filter(key="drop").update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    purged = await IdempotencyStore(ttl=timedelta(hours=24)).purge_expired()
    assert purged == 1
    assert await IdempotencyKey.filter(key="keep").count() == 1


async def test_scope_is_user_and_endpoint(client, auth_headers):
    alice, bob = await auth_headers("idem_alice"), await auth_headers("idem_bob")
    assert (await _earn(client, alice, "shared")).json()["balance"] == 40
    assert "Idempotent-Replayed" not in (await _earn(client, bob, "shared")).headers
    spend = await _earn(client, alice, "shared", {"amount": 40, "reason": "quest"}, path="/spend")
    assert spend.status_code == 200 and spend.json()["balance"] == 0
    assert "Idempotent-Replayed" not in spend.headers


async def test_failed_operation_releases_the_key(client, auth_headers):
    headers = await auth_headers("idem_broke")
    refused = await _earn(client, headers, "retry-me", path="/spend")
    assert refused.status_code == 409 and refused.json()["error"] == "insufficient_funds"
    await _earn(client, headers, "topup")
    retried = await _earn(client, headers, "retry-me", path="/spend")
    assert retried.status_code == 200 and retried.json()["balance"] == 0


async def test_event_endpoint_is_idempotent(client, auth_headers):
    headers = {**(await auth_headers("idem_event")), "Idempotency-Key": "ev-1"}
    body = {"eventType": "level_complete", "meta": '{"level": 3}'}
    first = await client.post("/event", json=body, headers=headers)
    again = await client.post("/event", json=body, headers=headers)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert (await client.get("/events", headers=headers)).json()["total"] == 1


async def test_server_purges_expired_keys_on_its_timer(orm, app):
    long_ago = datetime.now(UTC) - timedelta(days=2)
    await IdempotencyKey.create(
        user_id="someone",
        endpoint="/earn",
        key="stale",
        request_fingerprint="f",
        status_code=200,
        response_data="{}",
        created_at=long_ago,
        expires_at=long_ago + timedelta(hours=24),
    )
    async with asgi_client(app):  # start-up runs the first purge at once
        for _ in range(100):
            if not await IdempotencyKey.filter(key="stale").exists():
                break
            await asyncio.sleep(0.02)
        assert not await IdempotencyKey.filter(key="stale").exists()
