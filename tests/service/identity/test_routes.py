"""Every way a bearer token can be wrong answers 401 with WWW-Authenticate: Bearer."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned_token(user_id: str) -> str:
    now = int(datetime.now(UTC).timestamp())
    header = _b64({"alg": "none", "typ": "JWT"})
    return f"{header}.{_b64({'sub': user_id, 'iat': now, 'exp': now + 600})}."


def _tampered(token: str, new_sub: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = new_sub
    return f"{header}.{_b64(claims)}.{signature}"


async def test_valid_token_reaches_protected_route(client, auth_headers):
    headers = await auth_headers("player_ok")
    response = await client.get("/balance", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"userId": "player_ok", "balance": 0}


@pytest.mark.parametrize(
    "case",
    [
        "no_header",
        "bearer_without_token",
        "basic_scheme",
        "wrong_secret",
        "expired",
        "alg_none",
        "hs512",
        "tampered_payload",
        "unknown_user",
        "missing_exp",
        "garbage",
    ],
)
async def test_bad_credentials_are_rejected(client, auth_headers, make_token, case):
    await auth_headers("victim")  # the user exists, so only the token's fault can cause a 401
    past = datetime.now(UTC) - timedelta(hours=3)
    header_for = {
        "no_header": None,
        "bearer_without_token": "Bearer",
        "basic_scheme": "Basic dmljdGltOnB3",
        "wrong_secret": f"Bearer {make_token('victim', secret='another-secret-of-enough-length-xx')}",
        "expired": f"Bearer {make_token('victim', iat=past, exp=past + timedelta(minutes=5))}",
        "alg_none": f"Bearer {_unsigned_token('victim')}",
        "hs512": f"Bearer {make_token('victim', algorithm='HS512')}",
        "tampered_payload": f"Bearer {_tampered(make_token('someone'), 'victim')}",
        "unknown_user": f"Bearer {make_token('nobody_here')}",
        "missing_exp": "Bearer "
        + jwt.encode(
            {"sub": "victim", "iat": datetime.now(UTC)}, "test-jwt-secret-with-at-least-32-characters!"
        ),
        "garbage": "Bearer not.a.jwt",
    }[case]
    headers = {"Authorization": header_for} if header_for is not None else {}
    response = await client.get("/balance", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthorized"
    assert body["requestId"] == response.headers["X-Request-ID"]
