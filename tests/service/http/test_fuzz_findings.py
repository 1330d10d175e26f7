"""Inputs the fuzzer found answering 500, pinned so they stay 422 whatever the generator draws."""

from __future__ import annotations

import pytest

from service.postbacks.rules import sign
from tests.conftest import TEST_AF_SECRET

HUGE_OFFSET = str(2**63)
BEFORE_YEAR_ONE_IN_UTC = "0001-01-01T07:00:01+14:41"
AFTER_YEAR_9999_IN_UTC = "9999-12-31T23:00:00-05:00"


@pytest.mark.parametrize(
    "path,field",
    [
        (f"/ledger?offset={HUGE_OFFSET}", "offset"),
        (f"/events?offset={HUGE_OFFSET}", "offset"),
        (f"/events?start_time={BEFORE_YEAR_ONE_IN_UTC}", "start_time"),
        (f"/stats?start_time={BEFORE_YEAR_ONE_IN_UTC}", "start_time"),
        (f"/stats?end_time={AFTER_YEAR_9999_IN_UTC}", "end_time"),
        ("/stats?uid=a%00b", "uid"),
    ],
)
async def test_query_values_beyond_what_the_database_holds_are_422(client, auth_headers, path, field):
    response = await client.get(path.replace("+", "%2B"), headers=await auth_headers("fuzz_finding"))
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["details"]}


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/earn", {"amount": 1, "reason": "nul\x00byte"}, "reason"),
        ("/login", {"userId": "nul\x00byte"}, "userId"),
        ("/event", {"eventType": "x", "timestampUtc": BEFORE_YEAR_ONE_IN_UTC}, "timestampUtc"),
    ],
)
async def test_bodies_the_database_cannot_hold_are_422(client, auth_headers, path, body, field):
    response = await client.post(path, json=body, headers=await auth_headers("fuzz_finding"))
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["details"]}


async def test_postback_time_before_year_one_in_utc_is_422(client):
    body = b'{"event_name": "x", "appsflyer_id": "a", "event_time": "0001-01-01T00:00:00+01:00"}'
    response = await client.post(
        "/af/postback", content=body, headers={"X-AF-Signature": sign(TEST_AF_SECRET, body)}
    )
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "event_time"
