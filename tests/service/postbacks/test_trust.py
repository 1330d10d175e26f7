"""Issue 9 on postbacks (SPEC §4): revenue sanity, GET delivery with the same proofs, and
unverified postbacks kept apart, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from service.models import Event, RawPostback
from service.postbacks.rules import sign
from tests.conftest import TEST_AF_SECRET
from tests.service.postbacks.test_routes import post, postback_body, signed


@pytest.mark.parametrize(
    "fields",
    [
        {"event_revenue_usd": "1.7e308"},
        {"event_revenue_usd": "10000.01"},
        {"event_revenue_usd": "-1"},
        {"event_revenue_usd": "inf"},
        {"event_revenue_usd": "NaN"},
        {"event_revenue_usd": "1e400"},
        {"event_revenue": "1.7e308"},
        {"event_revenue_usd": True},
    ],
)
async def test_implausible_revenue_is_422_and_stores_nothing(client, fields):
    body = postback_body(n=3, **fields)
    response = await post(client, body, signed(body))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_revenue"
    assert response.json()["details"][0]["field"] in ("event_revenue_usd", "event_revenue")
    assert await RawPostback.all().count() == 0 and await Event.all().count() == 0


@pytest.mark.parametrize("revenue", ["0", "0.99", "10000"])
async def test_revenue_within_bounds_is_accepted(client, revenue):
    body = postback_body(n=4, event_revenue_usd=revenue)
    assert (await post(client, body, signed(body))).status_code == 200


def _query(**fields) -> str:
    base = {
        "event_name": "af_purchase",
        "appsflyer_id": "af-get-1",
        "event_revenue_usd": "4.99",
        "event_time": "2025-11-12 18:00:00",
        "campaign": "spring",
    }
    return urlencode({**base, **fields})


async def test_get_delivery_with_hmac_over_the_query_string_is_stored(client):
    query = _query()
    response = await client.get(
        f"/af/postback?{query}", headers={"X-AF-Signature": sign(TEST_AF_SECRET, query.encode())}
    )
    assert response.status_code == 200, response.text
    raw = await RawPostback.get(id=response.json()["postbackId"])
    assert raw.verified is True and json.loads(raw.payload)["event_revenue_usd"] == "4.99"
    event = await Event.get(id=response.json()["eventId"])
    assert (event.user_id, event.event_type) == ("af-get-1", "af_purchase")
    again = await client.get(
        f"/af/postback?{query}", headers={"X-AF-Signature": sign(TEST_AF_SECRET, query.encode())}
    )
    assert again.json()["duplicate"] is True


async def test_get_delivery_rejects_a_wrong_signature_and_bad_revenue(client):
    query = _query()
    wrong = await client.get(
        f"/af/postback?{query}", headers={"X-AF-Signature": sign("other", query.encode())}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_signature"
    bad = _query(event_revenue_usd="1.7e308")
    refused = await client.get(
        f"/af/postback?{bad}", headers={"X-AF-Signature": sign(TEST_AF_SECRET, bad.encode())}
    )
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_revenue"
    missing = await client.get("/af/postback?appsflyer_id=x")
    assert missing.status_code == 422


@pytest.mark.parametrize("settings_overrides", [{"ENVIRONMENT": "production", "WEB_WORKERS": 1}])
async def test_get_delivery_needs_proof_in_production(client):
    response = await client.get(f"/af/postback?{_query()}")
    assert response.status_code == 401


async def test_unsigned_development_postback_is_stored_unverified(client):
    body = postback_body(n=9)
    response = await post(client, body, {"Content-Type": "application/json"})
    assert response.status_code == 200
    assert (await RawPostback.get(id=response.json()["postbackId"])).verified is False


async def test_deeply_nested_postback_is_422(client):
    body = b'{"event_name": "af_purchase", "appsflyer_id": "x", "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    response = await post(client, body, signed(body))
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "body"
