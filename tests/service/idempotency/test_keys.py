"""Idempotency-Key parsing and the claim store, used directly (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.errors import (
    IdempotencyConflict,
    ValidationFailed,
)
from service.idempotency.store import IdempotencyStore, Scope, parse_key
from service.identity import tokens as auth
from service.models import Event, IdempotencyKey, User

STORE = IdempotencyStore(ttl=timedelta(hours=1))


async def _user(user_id: str) -> User:
    return await auth.get_or_create_user(user_id)


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


async def test_request_whose_claim_was_taken_over_is_rolled_back(orm):
    scope = Scope("slow_user", "/event", "slow-key")

    async def slow_operation(conn):
        # While we run past the lease, a retry takes the claim over (it re-stamps the row)...
        await (
            IdempotencyKey.filter(key="slow-key")
            .using_db(conn)
            .update(created_at=datetime.now(UTC) + timedelta(seconds=1))
        )
        # ...then our side effect
        event = await Event.create(
            using_db=conn, user_id="slow_user", event_type="late", ts_utc=datetime.now(UTC)
        )
        return {"eventId": event.id}

    with pytest.raises(IdempotencyConflict):
        await STORE.run(scope, "fp", slow_operation)
    assert await Event.filter(user_id="slow_user").count() == 0
