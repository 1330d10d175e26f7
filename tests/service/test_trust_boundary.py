"""Issue 9, from outside as an attacker would (SPEC §3b): bound accounts, revocation, the economy
catalogue, server grants, limits and input depth, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sanic import Sanic

from service.app import create_app
from service.config import Settings
from service.models import User
from tests.conftest import TEST_SERVER_KEY, asgi_client, repo_root, service_env
from tests.service.helpers import ledger_matches_balance

ECONOMY = str(repo_root() / "economy.example.toml")
SECRET = "device-key-0123456789abcdef"
SERVER = {"X-Server-Key": TEST_SERVER_KEY}


def _settings(db_url: str, **overrides: str) -> Settings:
    env = {**service_env(db_url), "ECONOMY_FILE": ECONOMY, "LOGIN_RATE_LIMIT": "100000/minute"}
    return Settings(_env_file=None, **{**env, **overrides})


@pytest.fixture
def settings(db_url: str) -> Settings:
    return _settings(db_url)


def _app(settings: Settings) -> Sanic:
    Sanic.test_mode = True
    return create_app(settings, name=f"trust_{uuid.uuid4().hex}")


async def _login(client: httpx.AsyncClient, user_id: str, secret: str | None = None) -> httpx.Response:
    body = {"userId": user_id} if secret is None else {"userId": user_id, "secret": secret}
    return await client.post("/login", json=body)


def _bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _without_request_id(response: httpx.Response) -> tuple[int, dict]:
    body = response.json()
    body.pop("requestId")
    return response.status_code, body


# ---- bound accounts -------------------------------------------------------------------------


async def test_bound_account_refuses_bare_login_and_wrong_secret(client):
    first = await _login(client, "victim_1", SECRET)
    assert first.status_code == 200 and first.json()["expiresAt"]
    bare = await _login(client, "victim_1")
    assert bare.status_code == 401 and bare.json()["error"] == "credentials_required"
    wrong = await _login(client, "victim_1", "not-the-device-key-000")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    again = await _login(client, "victim_1", SECRET)
    assert again.status_code == 200


async def test_existing_unbound_account_binds_on_first_secret(client):
    headers = _bearer(await _login(client, "legacy_player"))
    assert (
        await client.post("/earn", json={"amount": 50, "reason": "level_complete"}, headers=headers)
    ).status_code == 200
    assert (await _login(client, "legacy_player", SECRET)).status_code == 200
    assert (await _login(client, "legacy_player")).json()["error"] == "credentials_required"
    assert (await _login(client, "legacy_player", SECRET + "x")).status_code == 401


async def test_secret_is_stored_as_a_slow_salted_hash(client, db_url):
    await _login(client, "hashed_1", SECRET)
    await _login(client, "hashed_2", SECRET)
    hashes = [u.secret_hash for u in await User.filter(user_id__in=["hashed_1", "hashed_2"])]
    assert all(h.startswith("$argon2id$") and SECRET not in h for h in hashes)
    assert hashes[0] != hashes[1]  # salted


@pytest.mark.parametrize("secret", ["short", "x" * 257, 1234567890123456789])
async def test_secret_bounds(client, secret):
    response = await client.post("/login", json={"userId": "p", "secret": secret})
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "secret"


async def test_failed_logins_are_limited_per_user_id(client):
    await _login(client, "target", SECRET)
    statuses = [(await _login(client, "target", f"guess-{i:020d}")).status_code for i in range(50)]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    refused = await _login(client, "target", SECRET)  # even the right secret waits now
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert (await _login(client, "bystander", SECRET)).status_code == 200


async def test_unknown_and_bound_users_get_the_same_refusal_without_bare_login(db_url):
    async with asgi_client(_app(_settings(db_url, AUTH_ALLOW_BARE_LOGIN="false"))) as client:
        assert (await _login(client, "bound_one", SECRET)).status_code == 200
        unknown = await _login(client, "never_seen")
        bound = await _login(client, "bound_one")
        assert _without_request_id(unknown) == _without_request_id(bound)
        assert unknown.status_code == 401 and unknown.json()["error"] == "credentials_required"
        assert await User.filter(user_id="never_seen").count() == 0


# ---- revocation -----------------------------------------------------------------------------


async def test_logout_revokes_every_earlier_token_everywhere(client):
    first = _bearer(await _login(client, "leaver", SECRET))
    second = _bearer(await _login(client, "leaver", SECRET))
    assert (await client.post("/logout", headers=first)).json() == {"ok": True}
    for headers in (first, second):
        for method, path, body in [
            ("GET", "/balance", None),
            ("GET", "/ledger", None),
            ("GET", "/events", None),
            ("POST", "/earn", {"amount": 1, "reason": "level_complete"}),
            ("POST", "/spend", {"amount": 1, "reason": "shop"}),
            ("POST", "/event", {"eventType": "x"}),
            ("POST", "/logout", None),
        ]:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["error"] == "token_revoked", path
    fresh = _bearer(await _login(client, "leaver", SECRET))
    assert (await client.get("/balance", headers=fresh)).status_code == 200


# ---- economy catalogue ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 100000, "reason": "   "}, 422, "unknown_reason"),
        ({"amount": 1, "reason": "<script>"}, 422, "unknown_reason"),
        ({"amount": 100, "reason": "purchase"}, 403, "server_only_reason"),
        ({"amount": 51, "reason": "level_complete"}, 422, "amount_over_limit"),
    ],
)
async def test_client_earn_follows_the_catalogue(client, body, status, code):
    headers = _bearer(await _login(client, "minter"))
    response = await client.post("/earn", json=body, headers=headers)
    assert response.status_code == status and response.json()["error"] == code
    assert (await client.get("/balance", headers=headers)).json()["balance"] == 0


async def test_daily_count_and_cooldown_answer_429_with_retry_after(client):
    headers = _bearer(await _login(client, "grinder"))
    bonus = {"amount": 100, "reason": "daily_login_bonus"}
    assert (await client.post("/earn", json=bonus, headers=headers)).status_code == 200
    again = await client.post("/earn", json=bonus, headers=headers)
    assert again.status_code == 429 and again.json()["error"] == "earn_limit_reached"
    assert 0 < int(again.headers["Retry-After"]) <= 86400
    level = {"amount": 50, "reason": "level_complete"}  # cooldown 10 s
    assert (await client.post("/earn", json=level, headers=headers)).status_code == 200
    cooling = await client.post("/earn", json=level, headers=headers)
    assert cooling.status_code == 429 and 0 < int(cooling.headers["Retry-After"]) <= 10
    assert await ledger_matches_balance(client, headers) == 150


async def test_spend_takes_any_reason(client):
    headers = _bearer(await _login(client, "shopper"))
    await client.post(
        "/server/earn", json={"userId": "shopper", "amount": 10, "reason": "admin_grant"}, headers=SERVER
    )
    spent = await client.post("/spend", json={"amount": 4, "reason": "hat_blue"}, headers=headers)
    assert spent.status_code == 200 and spent.json()["balance"] == 6


# ---- server grants --------------------------------------------------------------------------


async def test_server_grants_need_the_server_key(client):
    await _login(client, "payee")
    body = {"userId": "payee", "amount": 500, "reason": "purchase"}
    missing = await client.post("/server/earn", json=body)
    assert missing.status_code == 401
    wrong = await client.post("/server/earn", json=body, headers={"X-Server-Key": TEST_SERVER_KEY + "x"})
    assert wrong.status_code == 403
    player = _bearer(await _login(client, "payee"))
    assert (await client.post("/server/earn", json=body, headers=player)).status_code == 401
    granted = await client.post("/server/earn", json=body, headers=SERVER)
    assert granted.status_code == 200 and granted.json()["balance"] == 500
    taken = await client.post(
        "/server/spend", json={**body, "amount": 200, "reason": "refund"}, headers=SERVER
    )
    assert taken.json()["balance"] == 300
    assert await ledger_matches_balance(client, player) == 300


async def test_server_grants_bypass_client_caps_but_not_the_catalogue(client):
    await _login(client, "vip")
    bonus = {"userId": "vip", "amount": 100, "reason": "daily_login_bonus"}
    for _ in range(3):
        assert (await client.post("/server/earn", json=bonus, headers=SERVER)).status_code == 200
    unknown = await client.post("/server/earn", json={**bonus, "reason": "free_money"}, headers=SERVER)
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_reason"
    nobody = await client.post("/server/earn", json={**bonus, "userId": "nobody"}, headers=SERVER)
    assert nobody.status_code == 404


async def test_server_grants_are_idempotent(client):
    await _login(client, "buyer")
    body = {"userId": "buyer", "amount": 700, "reason": "purchase"}
    headers = {**SERVER, "Idempotency-Key": "receipt-42"}
    first = await client.post("/server/earn", json=body, headers=headers)
    replay = await client.post("/server/earn", json=body, headers=headers)
    assert first.json() == replay.json() == {"ok": True, "balance": 700}
    assert replay.headers["Idempotent-Replayed"] == "true"


# ---- limits ---------------------------------------------------------------------------------


async def test_max_balance_is_409_and_writes_nothing(db_url):
    async with asgi_client(_app(_settings(db_url, MAX_BALANCE="1000"))) as client:
        headers = _bearer(await _login(client, "rich"))
        body = {"userId": "rich", "amount": 1000, "reason": "purchase"}
        assert (await client.post("/server/earn", json=body, headers=SERVER)).status_code == 200
        over = await client.post("/server/earn", json={**body, "amount": 1}, headers=SERVER)
        assert over.status_code == 409 and over.json()["error"] == "balance_limit"
        client_over = await client.post("/earn", json={"amount": 1, "reason": "achievement"}, headers=headers)
        assert client_over.status_code == 409 and client_over.json()["error"] == "balance_limit"
        assert await ledger_matches_balance(client, headers) == 1000


async def test_balance_near_2_pow_63_stays_an_integer(client):
    headers = _bearer(await _login(client, "overflow"))
    await User.filter(user_id="overflow").update(balance=2**63 - 10)
    response = await client.post("/earn", json={"amount": 100, "reason": "achievement"}, headers=headers)
    assert response.status_code == 409 and response.json()["error"] == "balance_limit"
    balance = (await client.get("/balance", headers=headers)).json()["balance"]
    assert balance == 2**63 - 10 and isinstance(balance, int)


async def test_wallet_writes_and_events_are_rate_limited_per_user(db_url):
    async with asgi_client(_app(_settings(db_url, WALLET_RATE_LIMIT="3/minute"))) as client:
        busy = _bearer(await _login(client, "busy"))
        calm = _bearer(await _login(client, "calm"))
        earn = {"amount": 10, "reason": "achievement"}
        statuses = [(await client.post("/earn", json=earn, headers=busy)).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        for path, body in [
            ("/earn", earn),
            ("/spend", {"amount": 1, "reason": "x"}),
            ("/event", {"eventType": "x"}),
        ]:
            limited = await client.post(path, json=body, headers=busy)
            assert limited.status_code == 429 and limited.json()["error"] == "rate_limited", path
            assert int(limited.headers["Retry-After"]) > 0
        assert (await client.post("/earn", json=earn, headers=calm)).status_code == 200


async def test_one_idempotency_key_through_earn_and_earn_slash_applies_once(client):
    headers = {**_bearer(await _login(client, "slasher")), "Idempotency-Key": "once"}
    body = {"amount": 20, "reason": "achievement"}
    first = await client.post("/earn", json=body, headers=headers)
    second = await client.post("/earn/", json=body, headers=headers)
    assert first.status_code == 200 and second.status_code == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await ledger_matches_balance(client, headers) == 20


# ---- input depth ----------------------------------------------------------------------------


async def test_deep_meta_is_422_not_500(client):
    headers = _bearer(await _login(client, "nester"))
    meta = "[" * 2500 + "]" * 2500
    response = await client.post("/event", json={"eventType": "deep", "meta": meta[:5000]}, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "invalid_meta"
    shallow = "[" * 64 + "]" * 64
    assert (
        await client.post("/event", json={"eventType": "ok", "meta": shallow}, headers=headers)
    ).status_code == 200


@pytest.mark.parametrize("path", ["/login", "/earn", "/event", "/server/earn"])
async def test_deep_bodies_are_422_everywhere(client, path):
    headers = {**_bearer(await _login(client, "deep")), **SERVER}
    body = '{"userId": "deep", "x": ' + "[" * 100 + "]" * 100 + "}"
    response = await client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "body"


async def test_brackets_inside_strings_are_not_nesting(client):
    headers = _bearer(await _login(client, "texty"))
    body = {"eventType": "t", "meta": '{"note": "' + "[" * 200 + '"}'}
    assert (await client.post("/event", json=body, headers=headers)).status_code == 200


# ---- the shipped catalogue ------------------------------------------------------------------


async def test_brief_curl_flow_still_works_in_development_with_the_example_catalogue(client):
    headers = _bearer(await _login(client, "player_123"))
    earned = await client.post("/earn", json={"amount": 500, "reason": "test"}, headers=headers)
    assert earned.status_code == 200 and earned.json() == {"ok": True, "balance": 500}
