"""GET /health, POST /login, the error envelope and the standard headers, on both databases."""

from __future__ import annotations

import jwt

from tests.conftest import TEST_JWT_SECRET


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
