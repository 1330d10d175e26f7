"""Bearer tokens and users, used directly (no HTTP), on both databases where they touch one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.errors import (
    Unauthorized,
)
from service.identity import tokens as auth
from service.models import User

TOKENS = auth.TokenService("domain-secret-domain-secret-domain-secret", ttl_minutes=5)


async def _user(user_id: str) -> User:
    return await auth.get_or_create_user(user_id)


def test_token_round_trip_and_expiry():
    assert TOKENS.subject(TOKENS.issue("p1")) == "p1"
    old = TOKENS.issue("p1", now=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(Unauthorized, match="expired"):
        TOKENS.subject(old)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Token abc", "bearer"])
def test_malformed_bearer_headers(header):
    with pytest.raises(Unauthorized):
        auth.bearer_token(header)


def test_bearer_scheme_is_case_insensitive():
    assert auth.bearer_token("bearer abc.def") == "abc.def"


async def test_concurrent_first_logins_create_one_user(orm):
    users = await asyncio.gather(*(auth.get_or_create_user("twin") for _ in range(10)))
    assert len({u.id for u in users}) == 1
    assert await User.filter(user_id="twin").count() == 1


async def test_authenticate_needs_an_existing_user(orm):
    token = TOKENS.issue("ghost")
    with pytest.raises(Unauthorized):
        await auth.authenticate(TOKENS, f"Bearer {token}")
    await _user("ghost")
    assert (await auth.authenticate(TOKENS, f"Bearer {token}")).user_id == "ghost"
