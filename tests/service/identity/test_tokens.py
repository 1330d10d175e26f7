"""Bearer tokens: a token verified once is remembered, yet still expires and still needs our secret."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from service.errors import Unauthorized
from service.identity import tokens as tokens_module
from service.identity.tokens import TokenService

SECRET = "tokens-secret-tokens-secret-tokens-secret"


def test_a_remembered_token_still_expires(monkeypatch):
    tokens = TokenService(SECRET, ttl_minutes=5)
    issued = datetime.now(UTC)
    token = tokens.issue("alice", now=issued, version=2)
    assert tokens.identity(token).user_id == "alice"
    expires_at = tokens.expiry(issued).timestamp()
    monkeypatch.setattr(tokens_module.time, "time", lambda: expires_at + 1)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.identity(token)
    monkeypatch.setattr(tokens_module.time, "time", time.time)
    # ...and it is gone: a later use verifies it again from scratch (PyJWT's own clock).
    assert tokens.identity(token).version == 2


def test_a_token_remembered_by_one_secret_does_not_pass_another():
    ours, theirs = TokenService(SECRET, 5), TokenService("other-secret-other-secret-other-secret", 5)
    token = ours.issue("alice")
    assert ours.identity(token).user_id == "alice"
    with pytest.raises(Unauthorized):
        theirs.identity(token)


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(tokens_module, "VERIFIED_TOKENS_MAX", 3)
    tokens = TokenService(SECRET, 5)
    issued = [tokens.issue(f"user{i}") for i in range(5)]
    for token in issued:
        tokens.identity(token)
    assert [tokens.identity(t).user_id for t in issued] == [f"user{i}" for i in range(5)]
    assert len(tokens._verified) <= 3
