"""Balance changes and the ledger (SPEC §3).

Invariant: a user's balance equals the sum of their ledger deltas and is never negative. Each
change is one transaction that serialises on the user row, updates the balance and writes one
ledger row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from service import metrics
from service.domain.auth import unknown_user
from service.domain.errors import InsufficientFunds
from service.domain.idempotency import IdempotencyStore, Outcome, Scope
from service.models import User, WalletLedger

# The hot statements are written out once and sent as raw SQL through Tortoise's own connection
# (asyncpg prepares and caches each one per connection). Built per call by Tortoise's query
# builder and model layer they cost more CPU than their round trips (bench/orm_overhead.py:
# ~100 us per statement), and the wallet is the hottest path. The caller is identified by the
# token's subject only: the statement that locks (or reads) the user row is also the one that
# proves the user exists, so a missing row answers 401 without a separate auth read.

# PostgreSQL: lock the row; concurrent changes of this user queue here until we commit.
_POSTGRES_LOCK_USER = 'SELECT "id", "balance" FROM "users" WHERE "user_id" = $1 FOR UPDATE'
# The balance update and the ledger row in one round trip: a data-modifying CTE always runs to
# completion, referenced or not, in the same transaction and under the lock taken above.
_POSTGRES_SET_BALANCE_AND_LOG = (
    'WITH "changed" AS (UPDATE "users" SET "balance" = $3 WHERE "id" = $1) '
    'INSERT INTO "wallet_ledger" ("user_id", "delta", "balance_after", "reason", '
    '"idempotency_key", "request_id", "ts") VALUES ($1, $2, $3, $4, $5, $6, $7)'
)

# SQLite: Tortoise's select_for_update is a no-op there, so the balance is changed by one
# conditional UPDATE as the transaction's first statement. SQLite takes its database write lock
# for that statement and holds it to COMMIT (other writers, including other worker processes,
# wait on busy_timeout), so no other change can interleave between the check, the update and
# the ledger insert; the WHERE clause keeps the balance from going negative.
_SQLITE_CHANGE_BALANCE = (
    'UPDATE "users" SET "balance" = "balance" + ? '
    'WHERE "user_id" = ? AND "balance" + ? >= 0 RETURNING "id", "balance"'
)
_SQLITE_USER_EXISTS = 'SELECT 1 FROM "users" WHERE "user_id" = ?'
_SQLITE_LOG_CHANGE = (
    'INSERT INTO "wallet_ledger" ("user_id", "delta", "balance_after", "reason", '
    '"idempotency_key", "request_id", "ts") VALUES (?, ?, ?, ?, ?, ?, ?)'
)

_USER_ROW = {
    "postgres": 'SELECT "id", "balance" FROM "users" WHERE "user_id" = $1',
    "sqlite": 'SELECT "id", "balance" FROM "users" WHERE "user_id" = ?',
}


@dataclass(frozen=True, slots=True)
class BalanceChange:
    delta: int
    reason: str
    idempotency_key: str | None = None
    request_id: str | None = None


def _ledger_row(user_pk: int, change: BalanceChange, balance: int) -> list:
    """The ledger statements' parameters, in their column order."""
    return [user_pk, change.delta, balance, change.reason, change.idempotency_key,
            change.request_id, datetime.now(UTC)]


async def apply_change(conn: BaseDBAsyncClient, user_id: str, change: BalanceChange) -> int:
    """Applies one change inside the caller's transaction `conn`; returns the new balance.

    Raises Unauthorized when no user has this id, InsufficientFunds when the balance would go
    below 0; either way nothing is written.
    """
    if conn.capabilities.support_for_update:
        _, rows = await conn.execute_query(_POSTGRES_LOCK_USER, [user_id])
        if not rows:
            raise unknown_user()
        user_pk, balance = rows[0]["id"], rows[0]["balance"] + change.delta
        if balance < 0:
            raise InsufficientFunds("The balance is lower than the amount")
        await conn.execute_query(_POSTGRES_SET_BALANCE_AND_LOG, _ledger_row(user_pk, change, balance))
        return balance
    _, rows = await conn.execute_query(_SQLITE_CHANGE_BALANCE, [change.delta, user_id, change.delta])
    if not rows:
        _, exists = await conn.execute_query(_SQLITE_USER_EXISTS, [user_id])
        if not exists:
            raise unknown_user()
        raise InsufficientFunds("The balance is lower than the amount")
    user_pk, balance = rows[0]["id"], rows[0]["balance"]
    await conn.execute_query(_SQLITE_LOG_CHANGE, _ledger_row(user_pk, change, balance))
    return balance


async def _user_row(user_id: str) -> Mapping[str, Any]:
    conn = User._meta.db
    _, rows = await conn.execute_query(_USER_ROW[conn.capabilities.dialect], [user_id])
    if not rows:
        raise unknown_user()
    return rows[0]


async def balance_of(user_id: str) -> int:
    """The user's balance (one read); Unauthorized when no user has this id."""
    return (await _user_row(user_id))["balance"]


@dataclass(frozen=True, slots=True)
class LedgerPage:
    entries: list[WalletLedger]
    total: int


async def ledger_page(user_id: str, limit: int, offset: int) -> LedgerPage:
    """The user's ledger entries, newest first; Unauthorized when no user has this id."""
    query = WalletLedger.filter(user_id=(await _user_row(user_id))["id"])
    total = await query.count()
    entries = await query.order_by("-ts", "-id").offset(offset).limit(limit)
    return LedgerPage(entries, total)


async def change_balance(
    store: IdempotencyStore,
    user_id: str,
    change: BalanceChange,
    endpoint: str,
    body_fingerprint: str,
) -> Outcome:
    """Applies `change` once (per Idempotency-Key, when one is given): `{"ok", "balance"}`."""

    async def operation(conn: BaseDBAsyncClient) -> Outcome:
        return Outcome(200, {"ok": True, "balance": await apply_change(conn, user_id, change)})

    scope = Scope(user_id, endpoint, change.idempotency_key) if change.idempotency_key else None
    outcome = await store.run(scope, body_fingerprint, operation)
    if not outcome.replayed:
        metrics.record_wallet_write("earn" if change.delta > 0 else "spend")
    return outcome
