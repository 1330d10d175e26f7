"""SPEC §0 headers on every documented route and on each error status; CORS on the attribution routes."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_ADMIN_TOKEN

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
}


def assert_standard_headers(response, request_id: str) -> None:
    assert response.headers["X-Request-ID"] == request_id, response.request.url
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (response.request.url, name)
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["requestId"] == request_id


@pytest.mark.parametrize("settings_overrides", [{"TRACK_RATE_LIMIT": "1/minute"}])
async def test_headers_on_every_documented_route_with_and_without_a_token(client, auth_headers):
    paths = (await client.get("/openapi.json")).json()["paths"]
    token = await auth_headers("header_checker")
    seen: set[int] = set()
    for path, operations in paths.items():
        for method in operations:
            if (method, path) == ("post", "/run-pipeline"):
                continue  # would start a pipeline run; its headers are those of any route
            for extra in ({}, {**token, "X-Admin-Token": TEST_ADMIN_TOKEN}):
                request_id = f"hdr-{method}-{len(seen)}-{len(extra)}"
                response = await client.request(method, path, headers={"X-Request-ID": request_id, **extra})
                seen.add(response.status_code)
                assert_standard_headers(response, request_id)
    # The sweep met successes and several kinds of error (no body is a 400 where one is needed).
    assert {200, 400, 401, 429} <= seen


@pytest.mark.parametrize("settings_overrides", [{"TRACK_RATE_LIMIT": "1/minute"}])
@pytest.mark.parametrize(
    "status,method,path,kwargs",
    [
        (404, "GET", "/no/such/route", {}),
        (401, "GET", "/balance", {"headers": {"Authorization": "Bearer not-a-token"}}),
        (401, "POST", "/af/postback", {"content": b"{}", "headers": {"X-AF-Signature": "bad"}}),
        (413, "POST", "/af/postback", {"content": b"x" * (64 * 1024 + 1)}),
        (400, "POST", "/af/postback", {"content": b"{nope"}),
        (422, "GET", "/track", {"params": {"campaign": "x" * 201}}),
        (429, "GET", "/track", {}),
    ],
)
async def test_headers_on_error_statuses(client, status, method, path, kwargs):
    if status == 429:
        await client.get("/track")
    request_id = f"err-{status}"
    kwargs = dict(kwargs)  # the parameter is shared by both databases' runs
    headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == status
    assert_standard_headers(response, request_id)


@pytest.mark.parametrize("path,method", [("/track", "GET"), ("/af/postback", "POST")])
async def test_cors_preflight_honours_allowed_origins(client, path, method):
    preflight = {
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type, X-Request-ID",
    }
    allowed = await client.options(path, headers={"Origin": "https://game.example", **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://game.example"
    assert method in allowed.headers["Access-Control-Allow-Methods"]
    assert "x-request-id" in allowed.headers["Access-Control-Allow-Headers"].lower()
    refused = await client.options(path, headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in refused.headers
    simple = await client.get("/track", headers={"Origin": "http://localhost:3000"})
    assert simple.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "retry-after" in simple.headers["Access-Control-Expose-Headers"].lower()
