"""/event, /events and /stats on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.models import Event
from tests.conftest import TEST_ADMIN_TOKEN

BASE = datetime(2025, 11, 12, 10, 0, tzinfo=UTC)


def _at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


async def _post(client, headers, event_type, minutes, meta=None):
    body = {"eventType": event_type, "timestampUtc": _at(minutes)}
    if meta is not None:
        body["meta"] = meta
    response = await client.post("/event", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["eventId"]


async def test_event_is_stored_and_listed(client, auth_headers):
    headers = await auth_headers("ev_user")
    response = await client.post(
        "/event",
        json={
            "eventType": "level_complete",
            "meta": '{"level": 42}',
            "timestampUtc": "2025-11-12T12:30:00+02:00",
        },
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["ok"] is True and isinstance(response.json()["eventId"], int)
    listed = (await client.get("/events", headers=headers)).json()
    assert listed["events"] == [
        {
            "id": response.json()["eventId"],
            "type": "level_complete",
            "ts": "2025-11-12T10:30:00.000000+00:00",
            "meta": '{"level": 42}',
        }
    ]


async def test_event_without_timestamp_uses_now_and_naive_time_is_utc(client, auth_headers):
    headers = await auth_headers("ev_now")
    before = datetime.now(UTC)
    await client.post("/event", json={"eventType": "open"}, headers=headers)
    await client.post(
        "/event", json={"eventType": "naive", "timestampUtc": "2025-01-01T00:00:00"}, headers=headers
    )
    events = (await client.get("/events", headers=headers)).json()["events"]
    assert datetime.fromisoformat(events[0]["ts"]) >= before - timedelta(seconds=1)
    assert events[0]["meta"] is None
    assert events[1]["ts"] == "2025-01-01T00:00:00.000000+00:00"


async def test_events_are_the_callers_only_newest_first_paginated(client, auth_headers):
    me, other = await auth_headers("ev_me"), await auth_headers("ev_other")
    ids = [await _post(client, me, "tap", minute) for minute in (5, 1, 3)]
    same_time = [await _post(client, me, "tap", 10), await _post(client, me, "tap", 10)]
    await _post(client, other, "tap", 7)
    page = (await client.get("/events?limit=2", headers=me)).json()
    assert [e["id"] for e in page["events"]] == [same_time[1], same_time[0]]
    assert (page["total"], page["limit"], page["offset"], page["hasMore"]) == (5, 2, 0, True)
    rest = (await client.get("/events?limit=2&offset=2", headers=me)).json()
    assert [e["id"] for e in rest["events"]] == [ids[0], ids[2]]
    last = (await client.get("/events?limit=2&offset=4", headers=me)).json()
    assert [e["id"] for e in last["events"]] == [ids[1]] and last["hasMore"] is False


async def test_event_filters_are_inclusive_at_both_ends(client, auth_headers):
    headers = await auth_headers("ev_filter")
    for minute, kind in ((0, "a"), (10, "a"), (20, "b"), (30, "a")):
        await _post(client, headers, kind, minute)
    query = f"start_time={_at(10).replace('+', '%2B')}&end_time={_at(30).replace('+', '%2B')}"
    window = (await client.get(f"/events?{query}", headers=headers)).json()
    assert [e["ts"][11:16] for e in window["events"]] == ["10:30", "10:20", "10:10"]
    typed = (await client.get(f"/events?{query}&event_type=a", headers=headers)).json()
    assert typed["total"] == 2
    point = (
        await client.get(
            f"/events?start_time={_at(20).replace('+', '%2B')}&end_time={_at(20).replace('+', '%2B')}",
            headers=headers,
        )
    ).json()
    assert point["total"] == 1


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"eventType": "has space"}, "eventType", "validation_error"),
        ({"eventType": ""}, "eventType", "validation_error"),
        ({"eventType": "x" * 101}, "eventType", "validation_error"),
        ({"eventType": 5}, "eventType", "validation_error"),
        ({"eventType": "ok", "meta": "x" * 5001}, "meta", "validation_error"),
        ({"eventType": "ok", "meta": "{not json"}, "meta", "invalid_meta"),
        ({"eventType": "ok", "meta": {"level": 1}}, "meta", "validation_error"),
        ({"eventType": "ok", "timestampUtc": "yesterday"}, "timestampUtc", "validation_error"),
        (
            {"eventType": "ok", "timestampUtc": (datetime.now(UTC) + timedelta(hours=25)).isoformat()},
            "timestampUtc",
            "validation_error",
        ),
    ],
)
async def test_invalid_events_are_422_naming_the_field_and_store_nothing(
    client, auth_headers, body, field, code
):
    headers = await auth_headers("ev_invalid")
    response = await client.post("/event", json=body, headers={**headers, "Idempotency-Key": "e-1"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert field in [d["field"] for d in response.json()["details"]]
    assert (await client.get("/events", headers=headers)).json()["total"] == 0
    fine = await client.post(
        "/event", json={"eventType": "ok"}, headers={**headers, "Idempotency-Key": "e-1"}
    )
    assert "Idempotent-Replayed" not in fine.headers


async def test_timestamp_just_under_a_day_ahead_is_accepted(client, auth_headers):
    headers = await auth_headers("ev_future")
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    assert (
        await client.post("/event", json={"eventType": "ok", "timestampUtc": soon}, headers=headers)
    ).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=1001", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("start_time=2025-11-12T11:00:00Z&end_time=2025-11-12T10:00:00Z", "start_time"),
        ("start_time=noon", "start_time"),
        ("event_type=bad%20type", "event_type"),
    ],
)
@pytest.mark.parametrize("path", ["/events", "/stats"])
async def test_invalid_filters_are_422(client, auth_headers, path, query, field):
    headers = await auth_headers("ev_query")
    response = await client.get(f"{path}?{query}", headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == field


async def test_events_needs_a_token(client):
    assert (await client.get("/events")).status_code == 401


async def _seed_stats(client, auth_headers):
    alice, bob = await auth_headers("st_alice"), await auth_headers("st_bob")
    for minute in (0, 5, 9):
        await _post(client, alice, "tap", minute)
    await _post(client, alice, "buy", 7)
    await _post(client, bob, "tap", 30)
    return alice, bob


async def test_stats_global_without_token(client, auth_headers):
    await _seed_stats(client, auth_headers)
    body = (await client.get("/stats")).json()
    assert body["scope"] == "global"
    assert body["byType"] == [
        {
            "eventType": "tap",
            "count": 4,
            "firstTs": "2025-11-12T10:00:00.000000+00:00",
            "lastTs": "2025-11-12T10:30:00.000000+00:00",
        },
        {
            "eventType": "buy",
            "count": 1,
            "firstTs": "2025-11-12T10:07:00.000000+00:00",
            "lastTs": "2025-11-12T10:07:00.000000+00:00",
        },
    ]
    assert (body["total"], body["hasMore"]) == (2, False)
    paged = (await client.get("/stats?limit=1")).json()
    assert [t["eventType"] for t in paged["byType"]] == ["tap"] and paged["hasMore"] is True


async def test_stats_with_token_is_the_callers(client, auth_headers):
    alice, _ = await _seed_stats(client, auth_headers)
    body = (await client.get("/stats", headers=alice)).json()
    assert body["scope"] == "user"
    assert {t["eventType"]: t["count"] for t in body["byType"]} == {"tap": 3, "buy": 1}
    filtered = (
        await client.get(f"/stats?event_type=tap&start_time={_at(5).replace('+', '%2B')}", headers=alice)
    ).json()
    assert filtered["byType"][0]["count"] == 2


async def test_stats_of_another_user_needs_admin_token(client, auth_headers):
    alice, _ = await _seed_stats(client, auth_headers)
    assert (await client.get("/stats?uid=st_alice", headers=alice)).json()["scope"] == "user"
    denied = await client.get("/stats?uid=st_bob", headers=alice)
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    assert (await client.get("/stats?uid=st_bob")).status_code == 403
    wrong = await client.get("/stats?uid=st_bob", headers={**alice, "X-Admin-Token": "nope"})
    assert wrong.status_code == 403
    admin = await client.get("/stats?uid=st_bob", headers={"X-Admin-Token": TEST_ADMIN_TOKEN})
    assert admin.status_code == 200
    assert admin.json()["scope"] == "user"
    assert [(t["eventType"], t["count"]) for t in admin.json()["byType"]] == [("tap", 1)]


async def test_stats_with_bad_token_is_401(client):
    response = await client.get("/stats", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_an_event_for_a_token_whose_user_does_not_exist_is_refused_and_not_written(client, make_token):
    headers = {"Authorization": f"Bearer {make_token('nobody_here')}"}
    response = await client.post("/event", json={"eventType": "ghost"}, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert await Event.filter(user_id="nobody_here").count() == 0


async def test_a_revoked_token_writes_no_event(client, auth_headers):
    headers = await auth_headers("event_leaver")
    assert (await client.post("/logout", headers=headers)).status_code == 200
    response = await client.post("/event", json={"eventType": "after_logout"}, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "token_revoked"
    assert await Event.filter(user_id="event_leaver").count() == 0
