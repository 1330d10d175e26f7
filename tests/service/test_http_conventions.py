"""SPEC §0 conventions: envelope, request ids, security headers, CORS, body limits."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sanic import Sanic

from service.app import create_app
from service.config import Settings
from tests.conftest import asgi_client, production_env, service_env


async def test_malformed_json_is_400(client):
    response = await client.post(
        "/login", content=b'{"userId": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


async def test_non_object_body_is_422(client):
    response = await client.post("/login", json=["player"])
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body"


@pytest.mark.parametrize("offered", ["has space", "x" * 129, "semi;colon", ""])
async def test_unsafe_request_id_is_replaced_by_uuid4(client, offered):
    response = await client.get("/health", headers={"X-Request-ID": offered})
    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4


async def test_cors_preflight_allows_configured_origin(client):
    response = await client.options(
        "/login",
        headers={
            "Origin": "https://game.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://game.example"
    # sanic-ext answers with the route's own methods within CORS_METHODS (GET,POST,PUT,DELETE).
    allowed = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert allowed == {"POST"}
    assert "idempotency-key" in response.headers["Access-Control-Allow-Headers"].lower()


async def test_cors_ignores_unknown_origin(client):
    response = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_unexpected_exception_is_a_json_500(app, client):
    async def explode(request):
        raise RuntimeError("boom")

    app.router.reset()
    app.add_route(explode, "/explode-for-test")
    app.router.finalize()
    response = await client.get("/explode-for-test", headers={"X-Request-ID": "bug-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "An unexpected error occurred",
        "requestId": "bug-1",
    }


async def test_production_adds_hsts(db_url):
    settings = Settings(
        _env_file=None,
        **{
            **service_env(db_url),
            **production_env(),
            "AF_SECRET": "af-" + "x" * 40,
            "DATABASE_URL": "postgresql://u@127.0.0.1:1/none",
        },
    )
    Sanic.test_mode = True
    app = create_app(settings, name=f"hsts_{uuid.uuid4().hex}")
    async with asgi_client(app) as http:  # the ORM connects lazily; this route needs no database
        response = await http.get("/no-such-route")
    assert response.status_code == 404
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


API_ROUTES = {
    ("get", "/health"),
    ("post", "/login"),
    ("post", "/earn"),
    ("post", "/spend"),
    ("get", "/balance"),
    ("get", "/ledger"),
    ("post", "/event"),
    ("get", "/events"),
    ("get", "/stats"),
}


def test_openapi_documents_every_route_with_models_and_security(live_server, db_url):
    server = live_server(db_url)
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert (schemes["adminToken"]["in"], schemes["adminToken"]["name"]) == ("header", "X-Admin-Token")
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert documented >= API_ROUTES
    for method, path in API_ROUTES:
        operation = document["paths"][path][method]
        ok = next(r for code, r in operation["responses"].items() if code.startswith("2"))
        assert ok["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
        if method == "post":
            assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert document["paths"]["/balance"]["get"]["security"] == [{"bearer": []}]
    assert {"adminToken": []} in document["paths"]["/stats"]["get"]["security"]
    earn_params = {p["name"] for p in document["paths"]["/earn"]["post"]["parameters"]}
    assert "Idempotency-Key" in earn_params
    limit = next(p for p in document["paths"]["/events"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)
    assert httpx.get(f"{server.base_url}/docs").status_code == 200
    assert httpx.get(f"{server.base_url}/redoc", follow_redirects=True).status_code == 200


def test_body_over_one_mebibyte_is_json_413(live_server, db_url):
    server = live_server(db_url)
    response = httpx.post(
        f"{server.base_url}/login",
        content=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert response.headers["X-Request-ID"]
