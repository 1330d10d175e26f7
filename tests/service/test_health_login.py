"""GET /health, POST /login, the error envelope and the standard headers, on both databases."""

from __future__ import annotations

import uuid

import jwt
import pytest
from sanic import Sanic

from service.app import create_app
from service.config import Settings
from tests.conftest import TEST_JWT_SECRET, asgi_client, service_env


async def test_health_reports_connected_database(client, db_url):
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "3.0"
    assert body["database"] == {
        "status": "connected",
        "type": "sqlite" if db_url.startswith("sqlite") else "postgres",
        "tables": "accessible",
    }
    assert body["checks"] == {"users": 0, "events": 0}


async def test_login_creates_user_once_and_issues_hs256_token(client):
    first = await client.post("/login", json={"userId": "  player_1  "})
    again = await client.post("/login", json={"userId": "player_1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["userId"] == "player_1"
    token = first.json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "player_1" and claims["exp"] > claims["iat"]
    health = (await client.get("/health")).json()
    assert health["checks"]["users"] == 1


async def test_unknown_route_is_json_404_with_request_id_and_security_headers(client):
    response = await client.get("/no/such/route", headers={"X-Request-ID": "trace-42.a_b"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["requestId"] == "trace-42.a_b"
    assert response.headers["X-Request-ID"] == "trace-42.a_b"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-XSS-Protection"] == "1; mode=block"
    assert "Strict-Transport-Security" not in response.headers


async def test_unreachable_database_is_503_not_500(make_token):
    settings = Settings(_env_file=None, **service_env("postgresql://postgres@127.0.0.1:1/nowhere"))
    Sanic.test_mode = True
    app = create_app(settings, name=f"down_{uuid.uuid4().hex}")
    async with asgi_client(app) as http:
        health = await http.get("/health")
        protected = await http.get("/balance", headers={"Authorization": f"Bearer {make_token('p')}"})
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert health.json()["database"]["status"] == "unreachable"
    assert protected.status_code == 503
    assert protected.json()["error"] == "database_unavailable"
    assert protected.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    "user_id", ["", "   ", "<script>", 'quote"d', "apo'strophe", "gt>", "x" * 256, 42, None]
)
async def test_invalid_user_ids_are_422_and_create_nothing(client, user_id):
    response = await client.post("/login", json={"userId": user_id})
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "userId"
    assert (await client.get("/health")).json()["checks"]["users"] == 0


async def test_user_id_of_255_chars_is_accepted(client):
    response = await client.post("/login", json={"userId": "u" * 255})
    assert response.status_code == 200


async def test_wrong_method_is_json_405(client):
    response = await client.get("/login")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
