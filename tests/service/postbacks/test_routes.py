"""POST /af/postback end to end on SQLite and PostgreSQL (SPEC §4)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from service.models import Event, RawPostback
from service.postbacks.rules import sign
from tests.conftest import TEST_AF_SECRET

PUSH_TOKEN = "push-token-for-tests-0123456789abcdef"


def postback_body(n: int = 1, **fields) -> bytes:
    payload = {
        "event_name": "af_purchase",
        "event_time": "2025-11-12 18:00:00.250",
        "event_value": json.dumps({"af_revenue": "9.99", "af_currency": "USD"}),
        "event_revenue_usd": "9.99",
        "appsflyer_id": f"1731434400000-{n:07d}",
        "customer_user_id": f"player_{n}",
        "media_source": "googleadwords_int",
        "campaign": "summer_campaign",
        "af_adset": "adset_1",
        **fields,
    }
    # Deliberately not json.dumps' default layout, so a signature over re-serialised JSON differs.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed(body: bytes, secret: str = TEST_AF_SECRET) -> dict[str, str]:
    return {"X-AF-Signature": sign(secret, body), "Content-Type": "application/json"}


async def post(client, body: bytes, headers: dict[str, str] | None = None):
    return await client.post("/af/postback", content=body, headers=headers or {})


async def test_valid_hmac_stores_raw_row_and_af_event(client):
    body = postback_body(n=7, event_name="purchase")
    response = await post(client, body, signed(body))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["ok"] is True and answer["duplicate"] is False
    raw = await RawPostback.get(id=answer["postbackId"])
    assert raw.source == "appsflyer" and raw.payload == body.decode() and raw.processed == 0
    assert raw.signature == sign(TEST_AF_SECRET, body) and raw.verified is True
    assert raw.body_sha256 == hashlib.sha256(body).hexdigest()
    event = await Event.get(id=answer["eventId"])
    assert event.event_type == "af_purchase" and event.user_id == "player_7"
    assert event.ts_utc == datetime(2025, 11, 12, 18, 0, 0, 250000, tzinfo=UTC)
    assert json.loads(event.meta)["event_value"] == '{"af_revenue": "9.99", "af_currency": "USD"}'


async def test_sha256_prefix_and_appsflyer_id_fallback(client):
    body = postback_body(customer_user_id=None, event_time=None)
    before = datetime.now(UTC)
    response = await post(client, body, {"X-AF-Signature": "sha256=" + sign(TEST_AF_SECRET, body)})
    assert response.status_code == 200, response.text
    raw = await RawPostback.get(id=response.json()["postbackId"])
    assert raw.signature == sign(TEST_AF_SECRET, body), "stored without the prefix"
    event = await Event.get(id=response.json()["eventId"])
    assert event.user_id == "1731434400000-0000001"
    assert before - timedelta(seconds=1) <= event.ts_utc <= datetime.now(UTC)


@pytest.mark.parametrize("settings_overrides", [{"AF_PUSH_TOKEN": PUSH_TOKEN}])
async def test_push_api_token_authenticates(client):
    body = postback_body()
    response = await post(client, body, {"Authorization": PUSH_TOKEN})
    assert response.status_code == 200, response.text
    assert (await RawPostback.get(id=response.json()["postbackId"])).verified is True
    wrong = await post(client, postback_body(2), {"Authorization": PUSH_TOKEN + "x"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_push_token"


@pytest.mark.parametrize(
    "settings_overrides", [{"AF_PUSH_TOKEN": PUSH_TOKEN, "AF_PUSH_TOKEN_HEADER": "X-AF-Token"}]
)
async def test_push_token_header_name_is_configurable(client):
    response = await post(client, postback_body(), {"X-AF-Token": PUSH_TOKEN})
    assert response.status_code == 200, response.text


async def test_missing_proof_is_accepted_unverified_in_development(client):
    response = await post(client, postback_body())
    assert response.status_code == 200
    raw = await RawPostback.get(id=response.json()["postbackId"])
    assert raw.verified is False and raw.signature is None


@pytest.mark.parametrize("settings_overrides", [{"AF_REQUIRE_PROOF": True}])
async def test_missing_proof_is_401_when_proof_is_required(client):
    response = await post(client, postback_body())
    assert response.status_code == 401
    assert response.json()["error"] == "signature_required"
    assert await RawPostback.all().count() == 0


@pytest.mark.parametrize("settings_overrides", [{"ENVIRONMENT": "production", "WEB_WORKERS": 1}])
async def test_missing_proof_is_401_in_production(client):
    unsigned = await post(client, postback_body())
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "signature_required"
    assert "Strict-Transport-Security" in unsigned.headers
    body = postback_body(2)
    assert (await post(client, body, signed(body))).status_code == 200


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda body: {"X-AF-Signature": "0" * 64}, id="wrong-signature"),
        pytest.param(lambda body: signed(body, "another-secret"), id="wrong-secret"),
        pytest.param(lambda body: signed(body.replace(b"9.99", b"0.99")), id="tampered-body"),
        pytest.param(lambda body: signed(json.dumps(json.loads(body)).encode()), id="reserialised-json"),
    ],
)
async def test_bad_signatures_are_401_and_store_nothing(client, make_headers):
    body = postback_body()
    response = await post(client, body, make_headers(body))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert await RawPostback.all().count() == 0 and await Event.all().count() == 0


@pytest.mark.parametrize(
    "body,status,field",
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 422, "body"),
        (b'{"appsflyer_id": "a"}', 422, "event_name"),
        (b'{"event_name": "install", "customer_user_id": null}', 422, "appsflyer_id"),
        (b'{"event_name": "install", "appsflyer_id": "a", "event_time": "12/11/2025"}', 422, "event_time"),
    ],
)
async def test_invalid_bodies(client, body, status, field):
    response = await post(client, body, signed(body))
    assert response.status_code == status
    error = response.json()
    assert error["error"] == ("malformed_json" if status == 400 else "validation_error")
    if field:
        assert field in {d["field"] for d in error["details"]}
    assert await RawPostback.all().count() == 0


async def test_body_over_64_kib_is_413_json(client):
    body = postback_body(pad="x" * (65 * 1024))
    response = await post(client, body, signed(body))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert response.headers["X-Request-ID"]
    exactly_at_limit = postback_body()
    pad = 64 * 1024 - len(exactly_at_limit) - len(',"pad":""')
    body = postback_body(pad="y" * pad)
    assert len(body) == 64 * 1024
    assert (await post(client, body, signed(body))).status_code == 200


async def test_same_body_again_is_a_duplicate_with_the_first_ids(client):
    body = postback_body(event_time=None)  # the event's time is the first receipt's
    first = (await post(client, body, signed(body))).json()
    again = await post(client, body, signed(body))
    assert again.status_code == 200
    repeat = again.json()
    assert repeat["duplicate"] is True
    assert (repeat["postbackId"], repeat["eventId"]) == (first["postbackId"], first["eventId"])
    assert await RawPostback.all().count() == 1 and await Event.all().count() == 1


async def test_same_body_after_seven_days_is_new(client):
    body = postback_body()
    first = (await post(client, body, signed(body))).json()
    await RawPostback.filter(id=first["postbackId"]).update(
        ts_utc=datetime.now(UTC) - timedelta(days=7, seconds=1)
    )
    again = (await post(client, body, signed(body))).json()
    assert again["duplicate"] is False and again["postbackId"] != first["postbackId"]
    assert await RawPostback.all().count() == 2


async def test_concurrent_identical_postbacks_make_one_row(client):
    body = postback_body()
    answers = await asyncio.gather(*(post(client, body, signed(body)) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    ids = {(a.json()["postbackId"], a.json()["eventId"]) for a in answers}
    assert len(ids) == 1
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 7
    assert await RawPostback.all().count() == 1 and await Event.all().count() == 1


async def test_concurrent_different_postbacks_make_one_row_each(client):
    bodies = [postback_body(n) for n in range(1, 9)]
    answers = await asyncio.gather(*(post(client, b, signed(b)) for b in bodies))
    assert all(a.status_code == 200 and a.json()["duplicate"] is False for a in answers)
    assert len({a.json()["postbackId"] for a in answers}) == 8
    assert await RawPostback.all().count() == 8 and await Event.all().count() == 8
