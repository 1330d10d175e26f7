"""Balance changes and the ledger (SPEC §3).

Invariant: a user's balance equals the sum of their ledger deltas and is never negative. Each
change is one transaction that serialises on the user row, updates the balance and writes one
ledger row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import RawSQL
from tortoise.transactions import in_transaction

from service.errors import BalanceLimit, InsufficientFunds, NotFound
from service.idempotency.store import IdempotencyStore, Scope
from service.identity.tokens import Identity, check_version, unknown_user
from service.models import User, WalletLedger
from service.monitoring import metrics
from service.wallet.economy import EarnLimitReached, EarnRule, Usage, check_usage, day_start

# The hot statements are built once and sent with parameters through Tortoise's own connection
# (asyncpg prepares and caches each one per connection). Built per call by Tortoise's query
# builder and model layer they cost more CPU than their round trips (bench/orm_overhead.py:
# ~100 us per statement), and the wallet is the hottest path. The caller is identified by the
# token's subject only: the statement that locks (or reads) the user row is also the one that
# proves the user exists, so a missing row answers 401 without a separate auth read.

_USER_STATE = ("id", "balance", "token_version")


@dataclass(frozen=True, slots=True)
class _UserStatements:
    lock: str  # SELECT ... FOR UPDATE of the user row
    read: str


@functools.cache
def _user_statements(dialect: str) -> _UserStatements:
    """The user-row statements for `dialect`, from Tortoise's query builder.

    On PostgreSQL the lock is `SELECT ... FOR UPDATE`: concurrent changes of this user queue
    there until the change commits, and the token version rides on it, so revocation costs no
    extra round trip. Built on first use because the builder needs the initialised connection;
    the text depends on the dialect only.
    """
    by_user = User.filter(user_id="")
    return _UserStatements(
        lock=by_user.select_for_update().only(*_USER_STATE).sql(),
        read=by_user.only(*_USER_STATE).sql(),
    )


# One statement for a whole change on PostgreSQL: it locks the user row (the builder's FOR UPDATE
# as its first step), checks the token version and the balance bounds on the row it locked, and
# only then updates the balance and writes the ledger row. A concurrent change of the same user
# makes the lock wait, and PostgreSQL then hands the lock step the row as that change committed
# it (READ COMMITTED re-reads a row it had to wait for), so every check and the new balance use
# the latest balance. Answers the locked state and the new balance (NULL when a check refused
# it, which Python then names). When and why it runs inside a transaction: _apply_postgres_alone.
# Both one-statement forms end alike: the locked row gets its new balance when `write_if` holds,
# and the changed row is logged.
_WRITE_AND_LOG = (
    '"changed" AS (UPDATE "users" SET "balance" = "locked"."balance" + $2::bigint FROM "locked" '
    'WHERE "users"."id" = "locked"."id" {write_if} RETURNING "users"."id", "users"."balance"), '
    '"logged" AS (INSERT INTO "wallet_ledger" ("user_id", "delta", "balance_after", "reason", '
    '"idempotency_key", "request_id", "ts") SELECT "id", $2::bigint, "balance", $3::varchar, '
    '$4::varchar, $5::varchar, $6::timestamptz FROM "changed") '
)
_POSTGRES_CHANGE = (
    'WITH "locked" AS ({lock}), '
    + _WRITE_AND_LOG
    + 'SELECT "locked"."balance", "locked"."token_version", "changed"."balance" AS "new_balance" '
    'FROM "locked" LEFT JOIN "changed" ON TRUE'
)
# $7 the token's version (NULL: a server grant), $8 the balance ceiling; numeric, so that no sum
# near 2^63 can overflow into an error.
_BOUNDS = (
    'AND ($7::bigint IS NULL OR "locked"."token_version" <= $7::bigint) '
    'AND "locked"."balance"::numeric + $2::bigint >= 0 '
    'AND ($2::bigint <= 0 OR "locked"."balance"::numeric + $2::bigint <= $8::bigint)'
)
# A capped earn in one statement as well. Its count of today's grants reads the snapshot the
# statement started with, which misses a grant committed while the lock step waited. Every
# grant also rewrites the user row, so such a grant shows as a newer row version under the lock
# than the snapshot holds ("seen"); then nothing is written, `fresh` is false, and the change
# is redone in the same transaction as lock, then count and write, a count that starts after
# the lock.
# $9 start of today, $10 oldest row to count, $11 largest total before this grant, $12 largest
# count before it, $13 latest allowed previous grant (NULL: no such limit).
_POSTGRES_COUNTED_ONE_STATEMENT = (
    'WITH "locked" AS ({lock}), '
    '"seen" AS (SELECT "id", "xmin" AS "row_version" FROM "users" WHERE "user_id" = $1), '
    '"usage" AS (SELECT COALESCE(SUM("delta") FILTER (WHERE "ts" >= $9), 0) AS "total", '
    'COUNT(*) FILTER (WHERE "ts" >= $9) AS "count", MAX("ts") AS "last_at" FROM "wallet_ledger" '
    'WHERE "user_id" = (SELECT "id" FROM "seen") AND "reason" = $3::varchar AND "delta" > 0 '
    'AND "ts" >= $10), '
    '"allowed" AS (SELECT 1 FROM "locked", "seen", "usage" '
    'WHERE "locked"."row_version" = "seen"."row_version" {checks} '
    'AND ($11::bigint IS NULL OR "total" <= $11) AND ($12::bigint IS NULL OR "count" <= $12) '
    'AND ($13::timestamptz IS NULL OR "last_at" IS NULL OR "last_at" <= $13)), '
    + _WRITE_AND_LOG
    + 'SELECT "locked"."balance", "locked"."token_version", '
    '"locked"."row_version" = "seen"."row_version" AS "fresh", "total", "count", "last_at", '
    '"changed"."balance" AS "new_balance" '
    'FROM "locked" CROSS JOIN "seen" CROSS JOIN "usage" LEFT JOIN "changed" ON TRUE'
)


@functools.cache
def _postgres_change_statements(skip_locked: bool) -> tuple[str, str]:
    """(a change without a catalogue rule, a capped earn), each one statement; with
    `skip_locked` their lock step finds no row, at once, while another change holds it."""
    by_user = User.filter(user_id="")
    lock = by_user.select_for_update(skip_locked=skip_locked).only(*_USER_STATE).sql()
    # The capped form's lock also answers the row version it locked (PostgreSQL's xmin).
    versioned = by_user.annotate(row_version=RawSQL('"xmin"')).select_for_update(skip_locked=skip_locked)
    lock_versioned = versioned.only(*_USER_STATE, "row_version").sql()
    return (
        _POSTGRES_CHANGE.format(lock=lock, write_if=_BOUNDS),
        _POSTGRES_COUNTED_ONE_STATEMENT.format(
            lock=lock_versioned, checks=_BOUNDS, write_if='AND EXISTS (SELECT 1 FROM "allowed")'
        ),
    )


# The capped earn's second form, after the lock in a transaction: this statement starts after
# the lock was granted, so its snapshot sees every grant committed before ours; it counts today's
# grants of the reason and writes only when all limits hold ($10 largest total before this
# grant, $11 largest count before it, $12 latest allowed previous grant; NULL = no such limit),
# returning the counts so the refusal can say which limit and until when.
_POSTGRES_COUNTED_CHANGE = (
    'WITH "usage" AS (SELECT COALESCE(SUM("delta") FILTER (WHERE "ts" >= $8), 0) AS "total", '
    'COUNT(*) FILTER (WHERE "ts" >= $8) AS "count", MAX("ts") AS "last_at" FROM "wallet_ledger" '
    'WHERE "user_id" = $1 AND "reason" = $4::varchar AND "delta" > 0 AND "ts" >= $9), '
    '"allowed" AS (SELECT 1 FROM "usage" WHERE ($10::bigint IS NULL OR "total" <= $10) '
    'AND ($11::bigint IS NULL OR "count" <= $11) '
    'AND ($12::timestamptz IS NULL OR "last_at" IS NULL OR "last_at" <= $12)), '
    '"changed" AS (UPDATE "users" SET "balance" = $3 WHERE "id" = $1 AND EXISTS (SELECT 1 FROM "allowed")), '
    '"logged" AS (INSERT INTO "wallet_ledger" ("user_id", "delta", "balance_after", "reason", '
    '"idempotency_key", "request_id", "ts") SELECT $1, $2::bigint, $3::bigint, $4::varchar, '
    '$5::varchar, $6::varchar, $7::timestamptz WHERE EXISTS (SELECT 1 FROM "allowed")) '
    'SELECT "total", "count", "last_at", EXISTS (SELECT 1 FROM "allowed") AS "applied" FROM "usage"'
)

# SQLite: Tortoise's select_for_update is a no-op there, so the balance is changed by one
# conditional UPDATE as the transaction's first statement. SQLite takes its database write lock
# for that statement and holds it to COMMIT (other writers, including other worker processes,
# wait on busy_timeout), so no other change can interleave between the check, the update and
# the ledger insert; the WHERE clause keeps the balance within 0..MAX_BALANCE (a sum past
# 2^63 turns REAL in SQLite and fails the bound, so it never lands) and checks the token version.
_SQLITE_CHANGE_BALANCE = (
    'UPDATE "users" SET "balance" = "balance" + ?1 '
    'WHERE "user_id" = ?2 AND (?3 IS NULL OR "token_version" <= ?3) AND "balance" + ?1 >= 0 '
    'AND (?1 <= 0 OR "balance" + ?1 <= ?4) RETURNING "id", "balance"'
)
_SQLITE_USAGE = (
    'SELECT COALESCE(SUM(CASE WHEN "ts" >= ? THEN "delta" END), 0) AS "total", '
    'COUNT(CASE WHEN "ts" >= ? THEN 1 END) AS "count", MAX("ts") AS "last_at" FROM "wallet_ledger" '
    'WHERE "user_id" = ? AND "reason" = ? AND "delta" > 0 AND "ts" >= ?'
)
_SQLITE_LOG_CHANGE = (
    'INSERT INTO "wallet_ledger" ("user_id", "delta", "balance_after", "reason", '
    '"idempotency_key", "request_id", "ts") VALUES (?, ?, ?, ?, ?, ?, ?)'
)


@dataclass(frozen=True, slots=True)
class BalanceChange:
    delta: int
    reason: str
    idempotency_key: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What bounds one change: the caller's token (None for server grants), the balance ceiling,
    and the catalogue rule whose daily caps and cooldown apply (None: none)."""

    identity: Identity | None
    max_balance: int
    rule: EarnRule | None = None

    @property
    def token_version(self) -> int | None:
        return None if self.identity is None else self.identity.version


def _ledger_row(user_pk: int, change: BalanceChange, balance: int, now: datetime) -> list[Any]:
    """The ledger statements' parameters, in their column order."""
    return [user_pk, change.delta, balance, change.reason, change.idempotency_key, change.request_id, now]


def _usage_window(rule: EarnRule, now: datetime) -> tuple[datetime, datetime]:
    """Start of today (UTC) and of the rows to look at (earlier when the cooldown reaches back)."""
    today = day_start(now)
    cooldown = timedelta(seconds=rule.cooldown_seconds or 0)
    return today, min(today, now - cooldown)


def _check_bounds(limits: Limits, change: BalanceChange, current_balance: int, version: int) -> int:
    if limits.identity is not None:
        check_version(limits.identity, version)
    balance = current_balance + change.delta
    if balance < 0:
        raise InsufficientFunds("The balance is lower than the amount")
    if change.delta > 0 and balance > limits.max_balance:
        raise BalanceLimit(f"A balance may not exceed {limits.max_balance}")
    return balance


def _refuse_usage(rule: EarnRule, change: BalanceChange, row: Mapping[str, Any], now: datetime) -> None:
    last_at = row["last_at"]
    if isinstance(last_at, str):  # SQLite hands back the stored text
        last_at = datetime.fromisoformat(last_at)
    usage = Usage(int(row["total"]), int(row["count"]), last_at)
    check_usage(rule, change.delta, usage, now)


class _NeedsTransaction(Exception):
    """The lone statement found the user row held by another change (or found no user), or its
    count may have missed a grant: the change must run again, inside a transaction."""


async def _apply_postgres_alone(
    user_id: str, change: BalanceChange, limits: Limits, missing: Exception
) -> int:
    """A change without a caller's transaction. First as one statement on its own (one round
    trip), which never waits for the row: alone it would commit by itself once the row came free,
    even after this worker was gone (cut off at shutdown, tests/service/test_graceful_shutdown.py),
    so a change that meets another one on its row (or finds no user) runs again in a transaction,
    which nobody commits when the worker is gone. Changes of one player rarely meet; the
    benchmark's hot row does."""
    try:
        return await _apply_postgres(User._meta.db, user_id, change, limits, missing, transactional=False)
    except _NeedsTransaction:
        pass
    async with in_transaction() as transaction:
        return await _apply_postgres(transaction, user_id, change, limits, missing, transactional=True)


async def _apply_postgres(
    conn: BaseDBAsyncClient,
    user_id: str,
    change: BalanceChange,
    limits: Limits,
    missing: Exception,
    transactional: bool,
) -> int:
    change_statement, counted_statement = _postgres_change_statements(skip_locked=not transactional)
    now = datetime.now(UTC)
    parameters: list[Any] = [
        user_id,
        change.delta,
        change.reason,
        change.idempotency_key,
        change.request_id,
        now,
        limits.token_version,
        limits.max_balance,
    ]
    rule = limits.rule
    if rule is not None:
        parameters += _usage_parameters(rule, change, now)
    _, rows = await conn.execute_query(change_statement if rule is None else counted_statement, parameters)
    if not rows:
        if not transactional:  # the row is held by another change, or there is no such user
            raise _NeedsTransaction
        raise missing
    row = rows[0]
    if row["new_balance"] is not None:
        return int(row["new_balance"])
    _check_bounds(limits, change, row["balance"], row["token_version"])
    if rule is None:
        raise RuntimeError(f"a balance change of {user_id!r} passed every check but was not written")
    if not row["fresh"]:
        if not transactional:
            raise _NeedsTransaction
        return await _apply_postgres_locked(conn, user_id, change, limits, rule, missing)
    _refuse_usage(rule, change, row, now)
    raise EarnLimitReached("This reason's limit is reached", 1)


def _usage_parameters(rule: EarnRule, change: BalanceChange, now: datetime) -> list[Any]:
    """Start of today, oldest row to count, then the most a grant may find before it (NULL: no
    such limit): today's total, today's count, the time of the previous grant."""
    today, since = _usage_window(rule, now)
    return [
        today,
        since,
        None if rule.daily_cap is None else rule.daily_cap - change.delta,
        None if rule.daily_count is None else rule.daily_count - 1,
        None if rule.cooldown_seconds is None else now - timedelta(seconds=rule.cooldown_seconds),
    ]


async def _apply_postgres_locked(
    conn: BaseDBAsyncClient,
    user_id: str,
    change: BalanceChange,
    limits: Limits,
    rule: EarnRule,
    missing: Exception,
) -> int:
    """A capped earn as lock, then count and write, in the caller's transaction `conn`."""
    _, rows = await conn.execute_query(_user_statements(conn.capabilities.dialect).lock, [user_id])
    if not rows:
        raise missing
    user_pk = rows[0]["id"]
    balance = _check_bounds(limits, change, rows[0]["balance"], rows[0]["token_version"])
    now = datetime.now(UTC)
    _, usage = await conn.execute_query(
        _POSTGRES_COUNTED_CHANGE,
        [*_ledger_row(user_pk, change, balance, now), *_usage_parameters(rule, change, now)],
    )
    if not usage[0]["applied"]:
        _refuse_usage(rule, change, usage[0], now)
        raise EarnLimitReached("This reason's limit is reached", 1)
    return balance


async def _apply_sqlite(
    conn: BaseDBAsyncClient, user_id: str, change: BalanceChange, limits: Limits, missing: Exception
) -> int:
    _, rows = await conn.execute_query(
        _SQLITE_CHANGE_BALANCE, [change.delta, user_id, limits.token_version, limits.max_balance]
    )
    if not rows:
        _, state = await conn.execute_query(_user_statements(conn.capabilities.dialect).read, [user_id])
        if not state:
            raise missing
        _check_bounds(limits, change, state[0]["balance"], state[0]["token_version"])
        raise BalanceLimit(f"A balance may not exceed {limits.max_balance}")
    user_pk, balance = rows[0]["id"], int(rows[0]["balance"])
    now = datetime.now(UTC)
    if limits.rule is not None:
        # The UPDATE above holds SQLite's write lock until COMMIT, and raising rolls it back.
        today, since = _usage_window(limits.rule, now)
        _, usage = await conn.execute_query(_SQLITE_USAGE, [today, today, user_pk, change.reason, since])
        _refuse_usage(limits.rule, change, usage[0], now)
    await conn.execute_query(_SQLITE_LOG_CHANGE, _ledger_row(user_pk, change, balance, now))
    return balance


async def apply_change(
    conn: BaseDBAsyncClient | None,
    user_id: str,
    change: BalanceChange,
    limits: Limits,
    missing: Exception | None = None,
) -> int:
    """Applies one change; returns the new balance. `conn` is the caller's transaction, or None
    to let the change run as its own (one statement on PostgreSQL unless it meets another).

    Raises `missing` (default: Unauthorized) when no user has this id, TokenRevoked for a token
    older than the user's version, InsufficientFunds below 0, BalanceLimit above the ceiling,
    EarnLimitReached past the rule's caps; in every case nothing is written.
    """
    missing = missing or unknown_user()
    postgres = (conn or User._meta.db).capabilities.support_for_update
    if conn is not None:
        if postgres:
            return await _apply_postgres(conn, user_id, change, limits, missing, transactional=True)
        return await _apply_sqlite(conn, user_id, change, limits, missing)
    if postgres:
        return await _apply_postgres_alone(user_id, change, limits, missing)
    async with in_transaction() as transaction:
        return await _apply_sqlite(transaction, user_id, change, limits, missing)


async def _user_row(identity: Identity) -> Mapping[str, Any]:
    conn = User._meta.db
    _, rows = await conn.execute_query(_user_statements(conn.capabilities.dialect).read, [identity.user_id])
    if not rows:
        raise unknown_user()
    check_version(identity, rows[0]["token_version"])
    return rows[0]


async def balance_of(identity: Identity) -> int:
    """The user's balance (one read); Unauthorized when no user has this id or the token is old."""
    return int((await _user_row(identity))["balance"])


@dataclass(frozen=True, slots=True)
class LedgerPage:
    entries: list[WalletLedger]
    total: int


async def ledger_page(identity: Identity, limit: int, offset: int) -> LedgerPage:
    """The user's ledger entries, newest first; Unauthorized when no user has this id."""
    query = WalletLedger.filter(user_id=(await _user_row(identity))["id"])
    total = await query.count()
    entries = await query.order_by("-ts", "-id").offset(offset).limit(limit)
    return LedgerPage(entries, total)


def unknown_target_user() -> NotFound:
    return NotFound("No user has this userId", [{"field": "userId", "problem": "no such user"}])


@dataclass(frozen=True, slots=True)
class BalanceChanged:
    balance: int
    replayed: bool  # answered from the Idempotency-Key store; nothing was changed this time


async def change_balance(
    store: IdempotencyStore,
    user_id: str,
    change: BalanceChange,
    endpoint: str,
    body_fingerprint: str,
    limits: Limits,
) -> BalanceChanged:
    """Applies `change` once (per Idempotency-Key, when one is given); returns the new balance.

    A server grant (`limits.identity` None) raises NotFound for an unknown user; a client's
    token raises Unauthorized.
    """
    missing = unknown_target_user() if limits.identity is None else None

    async def operation(conn: BaseDBAsyncClient | None) -> dict[str, Any]:
        # The stored result keeps the key earlier releases stored (in `{"ok", "balance"}`).
        return {"balance": await apply_change(conn, user_id, change, limits, missing)}

    scope = Scope(user_id, endpoint, change.idempotency_key) if change.idempotency_key else None
    outcome = await store.run(scope, body_fingerprint, operation)
    if not outcome.replayed:
        metrics.record_wallet_write("earn" if change.delta > 0 else "spend")
    return BalanceChanged(int(outcome.result["balance"]), outcome.replayed)
