"""Domain modules used directly (no HTTP), on both databases where they touch one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    Unauthorized,
    ValidationFailed,
)
from service.events.store import record_event
from service.idempotency.store import IdempotencyStore, Outcome, Scope, parse_key
from service.identity import tokens as auth
from service.models import Event, IdempotencyKey, User, WalletLedger
from service.wallet import rules as wallet

STORE = IdempotencyStore(ttl=timedelta(hours=1))
TOKENS = auth.TokenService("domain-secret-domain-secret-domain-secret", ttl_minutes=5)


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


@pytest.mark.parametrize(
    ("header", "key"),
    [(None, None), ("abc", "abc"), ('"abc"', "abc"), ('"a\\"b"', 'a"b'), (" spaced ", "spaced"), ('"', '"')],
)
def test_idempotency_key_forms(header, key):
    assert parse_key(header) == key


@pytest.mark.parametrize("header", ["", '""', "x" * 256, "caf\u00e9", "a\nb"])
def test_invalid_idempotency_keys(header):
    with pytest.raises(ValidationFailed):
        parse_key(header)


UNCAPPED = wallet.Limits(None, max_balance=10**12)


async def _user(user_id: str) -> User:
    return await auth.get_or_create_user(user_id)


async def test_concurrent_changes_in_one_process_keep_the_invariant(orm):
    user = await _user("domain_racer")
    earn = wallet.BalanceChange(3, "race")
    await asyncio.gather(
        *(wallet.change_balance(STORE, user.user_id, earn, "/earn", "fp", UNCAPPED) for _ in range(100))
    )
    spend = wallet.BalanceChange(-7, "race")
    results = await asyncio.gather(
        *(wallet.change_balance(STORE, user.user_id, spend, "/spend", "fp", UNCAPPED) for _ in range(60)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(refused) == 60 - 300 // 7
    balance = (await User.get(id=user.id)).balance
    deltas = await WalletLedger.filter(user_id=user.id).values_list("delta", flat=True)
    assert balance == sum(deltas) == 300 - 7 * (300 // 7)


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


async def test_request_whose_claim_was_taken_over_is_rolled_back(orm):
    scope = Scope("slow_user", "/event", "slow-key")

    async def slow_operation(conn):
        # While we run past the lease, a retry takes the claim over (it re-stamps the row)...
        await (
            IdempotencyKey.filter(key="slow-key")
            .using_db(conn)
            .update(created_at=datetime.now(UTC) + timedelta(seconds=1))
        )
        event = await record_event("slow_user", "late", conn=conn)  # ...then our side effect
        return Outcome(200, {"ok": True, "eventId": event.id})

    with pytest.raises(IdempotencyConflict):
        await STORE.run(scope, "fp", slow_operation)
    assert await Event.filter(user_id="slow_user").count() == 0
