"""Idempotency-Key handling (SPEC §3), after the IETF Idempotency-Key draft.

A key is claimed by inserting its row (unique on user, endpoint, key) marked "in flight",
committed on its own so concurrent requests see it at once. The side effect then runs in one
transaction that also stores its result in the row, so a stored result exists exactly when the
side effect happened. If the operation fails the
claim is released and a retry runs it again. Rows expire after the TTL and are purged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from service.errors import IdempotencyConflict, IdempotencyKeyReused, ValidationFailed
from service.models import IdempotencyKey
from service.monitoring import metrics

# A claim whose request died (process killed) stops blocking retries after this long.
IN_FLIGHT_LEASE = timedelta(seconds=60)
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]{1,255}")
_QUOTED_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')


# The row's `status_code` column is its completion mark (NULL: in flight). Releases before the
# domain/transport split stored the HTTP status there and replay it; every stored result was a
# success, so writing that same value keeps rows readable by either release during a rollout.
_COMPLETED = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the side effect returned (JSON-serialisable), and whether this is a stored replay."""

    result: dict[str, Any]
    replayed: bool = False


# Called with the transaction that also stores its result, or with None when no key is given:
# then the operation opens what it needs (a single statement is its own transaction).
Operation = Callable[[BaseDBAsyncClient | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Scope:
    user_id: str
    endpoint: str
    key: str


def parse_key(header_value: str | None) -> str | None:
    """The key of an Idempotency-Key header: bare, or the draft's quoted string form."""
    if header_value is None:
        return None
    value = header_value.strip()
    quoted = _QUOTED_STRING.fullmatch(value)
    if quoted:
        value = re.sub(r"\\(.)", r"\1", quoted.group(1))
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 printable ASCII characters",
            [{"field": "Idempotency-Key", "problem": "must be 1-255 printable ASCII characters"}],
        )
    return value


def fingerprint(canonical_body: str) -> str:
    return hashlib.sha256(canonical_body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """An in-flight key row we own: its id and the claim time (which a take-over changes)."""

    id: int
    claimed_at: datetime

    def rows(self) -> QuerySet[IdempotencyKey]:
        return IdempotencyKey.filter(id=self.id, status_code=None, created_at=self.claimed_at)


@dataclass(frozen=True, slots=True)
class IdempotencyStore:
    ttl: timedelta

    async def run(self, scope: Scope | None, body_fingerprint: str, operation: Operation) -> Outcome:
        """Runs `operation` at most once per scope within the TTL, in one transaction with the
        stored result; without a scope it simply runs."""
        if scope is None:
            return Outcome(await operation(None))
        claim = await self._claim(scope, body_fingerprint)
        if isinstance(claim, Outcome):
            metrics.record_idempotent_replay(scope.endpoint)
            return claim
        try:
            async with in_transaction() as conn:
                result = await operation(conn)
                stored = (
                    await claim.rows()
                    .using_db(conn)
                    .update(status_code=_COMPLETED, response_data=json.dumps(result))
                )
                if stored != 1:
                    # Our claim outlived its lease and another request took it over: undo ours.
                    raise IdempotencyConflict("The Idempotency-Key was taken over by a retry")
        except BaseException:
            await claim.rows().delete()
            raise
        return Outcome(result)

    async def _claim(self, scope: Scope, body_fingerprint: str) -> Claim | Outcome:
        """Our new in-flight claim, or the stored outcome to replay."""
        for _ in range(3):  # a concurrent purge or release can remove the row we collided with
            now = datetime.now(UTC)
            try:
                row = await IdempotencyKey.create(
                    user_id=scope.user_id,
                    endpoint=scope.endpoint,
                    key=scope.key,
                    request_fingerprint=body_fingerprint,
                    status_code=None,
                    response_data="",
                    created_at=now,
                    expires_at=now + self.ttl,
                )
                return Claim(row.id, now)
            except IntegrityError:
                pass
            existing = await IdempotencyKey.get_or_none(
                user_id=scope.user_id, endpoint=scope.endpoint, key=scope.key
            )
            if existing is None:
                continue
            if existing.expires_at <= now:
                # Expired keys are new again: purge on lookup, then claim afresh.
                await IdempotencyKey.filter(id=existing.id, expires_at__lte=now).delete()
                continue
            if existing.request_fingerprint != body_fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different request body"
                )
            if existing.status_code is not None:
                return Outcome(json.loads(existing.response_data), replayed=True)
            if existing.created_at <= now - IN_FLIGHT_LEASE:
                stale = Claim(existing.id, existing.created_at)
                if await stale.rows().update(created_at=now) == 1:
                    return Claim(existing.id, now)
            raise IdempotencyConflict("A request with this Idempotency-Key is still in progress")
        raise IdempotencyConflict("The Idempotency-Key is contended; retry")

    async def purge_expired(self, now: datetime | None = None) -> int:
        return await IdempotencyKey.filter(expires_at__lte=now or datetime.now(UTC)).delete()
