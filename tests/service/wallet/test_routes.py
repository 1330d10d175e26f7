"""/earn, /spend, /balance, /ledger: amounts, the ledger invariant, validation, on both databases."""

from __future__ import annotations

import pytest

from service.models import IdempotencyKey, User, WalletLedger
from tests.service.helpers import ledger_matches_balance


async def test_earn_spend_and_balance(client, auth_headers):
    headers = await auth_headers("wallet_user")
    earned = await client.post("/earn", json={"amount": 500, "reason": "daily_login_bonus"}, headers=headers)
    assert earned.status_code == 200 and earned.json() == {"ok": True, "balance": 500}
    spent = await client.post("/spend", json={"amount": 120, "reason": "shop"}, headers=headers)
    assert spent.json() == {"ok": True, "balance": 380}
    balance = await client.get("/balance", headers=headers)
    assert balance.json() == {"userId": "wallet_user", "balance": 380}
    assert "Idempotent-Replayed" not in spent.headers


async def test_spend_more_than_balance_is_409_and_changes_nothing(client, auth_headers):
    headers = await auth_headers("poor_user")
    await client.post("/earn", json={"amount": 10, "reason": "gift"}, headers=headers)
    response = await client.post("/spend", json={"amount": 11, "reason": "shop"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"] == "insufficient_funds"
    assert (await client.get("/balance", headers=headers)).json()["balance"] == 10
    assert await ledger_matches_balance(client, headers) == 10


async def test_spend_exact_balance_reaches_zero(client, auth_headers):
    headers = await auth_headers("exact_user")
    await client.post("/earn", json={"amount": 25, "reason": "gift"}, headers=headers)
    response = await client.post("/spend", json={"amount": 25, "reason": "shop"}, headers=headers)
    assert response.json() == {"ok": True, "balance": 0}


async def test_ledger_lists_changes_newest_first_with_pagination(client, auth_headers):
    headers = await auth_headers("ledger_user")
    for amount in (100, 200, 300):
        await client.post("/earn", json={"amount": amount, "reason": f"r{amount}"}, headers=headers)
    await client.post(
        "/spend", json={"amount": 50, "reason": "shop"}, headers={**headers, "Idempotency-Key": "k-1"}
    )
    first = (await client.get("/ledger?limit=3", headers=headers)).json()
    assert (first["total"], first["limit"], first["offset"], first["hasMore"]) == (4, 3, 0, True)
    assert [e["delta"] for e in first["entries"]] == [-50, 300, 200]
    assert [e["balanceAfter"] for e in first["entries"]] == [550, 600, 300]
    assert first["entries"][0]["idempotencyKey"] == "k-1"
    assert first["entries"][0]["reason"] == "shop"
    assert first["entries"][0]["ts"].endswith("+00:00")
    rest = (await client.get("/ledger?limit=3&offset=3", headers=headers)).json()
    assert [e["delta"] for e in rest["entries"]] == [100] and rest["hasMore"] is False
    assert await ledger_matches_balance(client, headers) == 550


async def test_ledger_is_per_user(client, auth_headers):
    alice, bob = await auth_headers("alice"), await auth_headers("bob")
    await client.post("/earn", json={"amount": 5, "reason": "a"}, headers=alice)
    assert (await client.get("/ledger", headers=bob)).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0, "reason": "x"}, "amount"),
        ({"amount": 100001, "reason": "x"}, "amount"),
        ({"amount": "12", "reason": "x"}, "amount"),
        ({"amount": 1.5, "reason": "x"}, "amount"),
        ({"amount": True, "reason": "x"}, "amount"),
        ({"reason": "x"}, "amount"),
        ({"amount": 5, "reason": ""}, "reason"),
        ({"amount": 5, "reason": "r" * 101}, "reason"),
        ({"amount": 5}, "reason"),
    ],
)
@pytest.mark.parametrize("path", ["/earn", "/spend"])
async def test_invalid_amount_bodies_are_422_naming_the_field_and_store_nothing(
    client, auth_headers, path, body, field
):
    headers = await auth_headers("validated_user")
    response = await client.post(path, json=body, headers={**headers, "Idempotency-Key": "v-1"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert field in [d["field"] for d in response.json()["details"]]
    assert (await client.get("/ledger", headers=headers)).json()["total"] == 0
    # The failed request did not consume the key: a valid one with it applies.
    ok = await client.post(
        "/earn", json={"amount": 1, "reason": "ok"}, headers={**headers, "Idempotency-Key": "v-1"}
    )
    assert ok.status_code == 200 and "Idempotent-Replayed" not in ok.headers


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("offset=-1", "offset"), ("limit=abc", "limit")],
)
async def test_ledger_query_bounds_are_422(client, auth_headers, query, field):
    headers = await auth_headers("q_user")
    response = await client.get(f"/ledger?{query}", headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field


@pytest.mark.parametrize("idempotency_key", [None, "ghost-key"])
@pytest.mark.parametrize("path", ["/earn", "/spend"])
async def test_valid_token_of_unknown_user_changes_nothing_and_is_401(
    client, make_token, path, idempotency_key
):
    # The token verifies, but no user has its subject: the wallet's own locking statement finds
    # no row, so the answer is the same 401 an auth read would give, and nothing is written.
    headers = {"Authorization": f"Bearer {make_token('never_logged_in')}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = await client.post(path, json={"amount": 5, "reason": "ghost"}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert response.json()["requestId"] == response.headers["X-Request-ID"]
    assert await User.filter(user_id="never_logged_in").count() == 0
    assert await WalletLedger.all().count() == 0
    assert await IdempotencyKey.all().count() == 0


@pytest.mark.parametrize("path", ["/balance", "/ledger"])
async def test_reads_of_unknown_user_are_401(client, make_token, path):
    response = await client.get(path, headers={"Authorization": f"Bearer {make_token('nobody')}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
