"""GET /track and the per-IP rate limits of /track and /login, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from service.models import Event

SMALL_LIMITS = {"TRACK_RATE_LIMIT": "3/minute", "LOGIN_RATE_LIMIT": "2/minute"}


async def logged_events() -> list[Event]:
    return await Event.filter(event_type="deeplink_track").order_by("id")


async def test_allowed_params_are_logged_and_unknown_dropped(client):
    query = {
        "character": "warrior",
        "campaign": "summer_promo",
        "media_source": "tiktok",
        "pid": "p1",
        "c": "c1",
        "af_sub1": "s",
        "utm_source": "newsletter",
        "fbclid": "drop-me",
        "af-bad": "x",
    }
    response = await client.get("/track?" + urlencode(query))
    assert response.status_code == 200, response.text
    logged = {k: v for k, v in query.items() if k not in ("fbclid", "af-bad")}
    assert response.json() == {"ok": True, "logged": logged}
    [event] = await logged_events()
    assert event.user_id == "anonymous" and json.loads(event.meta) == logged


async def test_brief_example(client):
    response = await client.get("/track?character=warrior&campaign=summer_promo")
    assert response.json() == {"ok": True, "logged": {"character": "warrior", "campaign": "summer_promo"}}


async def test_token_makes_the_event_the_callers(client, auth_headers):
    headers = await auth_headers("player_9")
    response = await client.get("/track?campaign=x", headers=headers)
    assert response.status_code == 200
    [event] = await logged_events()
    assert event.user_id == "player_9"


async def test_invalid_token_is_401_and_logs_nothing(client):
    response = await client.get("/track?campaign=x", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await logged_events() == []


async def test_value_over_200_chars_is_422_naming_it(client):
    ok = await client.get("/track?" + urlencode({"campaign": "x" * 200}))
    assert ok.status_code == 200
    response = await client.get("/track?" + urlencode({"campaign": "x" * 201, "pid": "p"}))
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "campaign", "problem": "must be at most 200 characters"}]
    assert len(await logged_events()) == 1


async def test_more_than_20_params_is_422(client):
    twenty = {f"utm_p{i}": "v" for i in range(20)}
    assert (await client.get("/track?" + urlencode(twenty))).status_code == 200
    response = await client.get("/track?" + urlencode({**twenty, "campaign": "one too many"}))
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "query"
    # Unknown parameters are dropped before counting: junk on a link never costs the click.
    junk = {**twenty, **{f"junk{i}": "v" for i in range(30)}}
    assert (await client.get("/track?" + urlencode(junk))).status_code == 200


async def test_repeated_param_logs_the_first_value(client):
    response = await client.get("/track?campaign=first&campaign=second")
    assert response.json()["logged"] == {"campaign": "first"}


@pytest.mark.parametrize("settings_overrides", [SMALL_LIMITS])
async def test_track_is_rate_limited_per_client_ip_with_retry_after(client):
    statuses = [(await client.get("/track?campaign=x")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await client.get("/track?campaign=x", headers={"X-Request-ID": "limited-1"})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited" and refused.json()["requestId"] == "limited-1"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Request-ID"] == "limited-1"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert len(await logged_events()) == 3, "a refused request logs nothing"
    # Without a trusted-proxy setting a forwarding header does not buy a fresh budget.
    spoofed = await client.get("/track?campaign=x", headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429


@pytest.mark.parametrize("settings_overrides", [SMALL_LIMITS])
async def test_trusted_proxy_header_identifies_the_client(app, client):
    app.config.PROXIES_COUNT = 1
    for _ in range(3):
        assert (await client.get("/track", headers={"X-Forwarded-For": "203.0.113.1"})).status_code == 200
    assert (await client.get("/track", headers={"X-Forwarded-For": "203.0.113.1"})).status_code == 429
    assert (await client.get("/track", headers={"X-Forwarded-For": "203.0.113.2"})).status_code == 200


@pytest.mark.parametrize("settings_overrides", [SMALL_LIMITS])
async def test_login_is_rate_limited_per_ip(client):
    for n in range(2):
        assert (await client.post("/login", json={"userId": f"u{n}"})).status_code == 200
    refused = await client.post("/login", json={"userId": "u3"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # /login and /track have separate budgets.
    assert (await client.get("/track")).status_code == 200
