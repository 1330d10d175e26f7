"""The hot wallet statements: built from Tortoise's own query builder (design card:
select_for_update), and correct when a concurrent change holds the user row."""

from __future__ import annotations

import asyncio
import contextvars

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from service.errors import InsufficientFunds
from service.identity import tokens as auth
from service.models import User, WalletLedger
from service.wallet import rules as wallet
from service.wallet.economy import EarnLimitReached, EarnRule
from tests.service.helpers import wait_until_blocked_on_a_lock

LOCK_WAIT_SECONDS = 10
# Row locks and one-statement changes are PostgreSQL's (SQLite serialises whole transactions).
postgres_only = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


async def test_the_lock_statement_is_tortoises_select_for_update(orm):
    dialect = User._meta.db.capabilities.dialect
    statements = wallet._user_statements(dialect)
    built = User.filter(user_id="").select_for_update().only("id", "balance", "token_version").sql()
    assert statements.lock == built
    # PostgreSQL locks the row; SQLite has no row locks (its write lock comes from the UPDATE).
    assert statements.lock.endswith("FOR UPDATE") == (dialect == "postgres")
    assert statements.read.startswith("SELECT") and "FOR UPDATE" not in statements.read


@postgres_only
async def test_postgres_changes_lock_the_row_with_the_builders_statement(orm):
    waiting_plain, waiting_counted = wallet._postgres_change_statements(skip_locked=False)
    assert waiting_plain.startswith(f'WITH "locked" AS ({wallet._user_statements("postgres").lock})')
    assert 'FROM "users" WHERE "user_id"=$1 FOR UPDATE)' in waiting_counted
    # Alone (no caller's transaction) a change must not wait for the row: see the tests below.
    plain, counted = wallet._postgres_change_statements(skip_locked=True)
    built = User.filter(user_id="").select_for_update(skip_locked=True).only("id", "balance", "token_version")
    assert plain.startswith(f'WITH "locked" AS ({built.sql()})')
    assert 'FROM "users" WHERE "user_id"=$1 FOR UPDATE SKIP LOCKED)' in counted


async def _while_another_change_holds_the_row(
    watcher: asyncpg.Connection, user: User, held: wallet.BalanceChange, waiting
) -> object:
    """Starts `waiting` while a transaction holding `held` (uncommitted) has the user row, lets
    it queue on the row lock (seen through `watcher`), then commits `held`; returns what
    `waiting` returned or raised."""
    # Tortoise routes a task's queries to the transaction open in its context, so `waiting`
    # gets the context from before the transaction: it must run on a connection of its own.
    outside = contextvars.copy_context()
    async with in_transaction() as transaction:
        await wallet.apply_change(transaction, user.user_id, held, wallet.Limits(None, 10**12))
        task = asyncio.get_running_loop().create_task(waiting, context=outside)
        await wait_until_blocked_on_a_lock(watcher, "the change", seconds=LOCK_WAIT_SECONDS)
    results = await asyncio.gather(task, return_exceptions=True)
    return results[0]


@pytest.fixture
async def postgres_user(orm):
    return await auth.get_or_create_user("lock_waiter")


@pytest.fixture
async def watcher(orm):
    """A session of the test database of its own, outside Tortoise and its transactions."""
    conn = await asyncpg.connect(orm)
    try:
        yield conn
    finally:
        await conn.close()


@postgres_only
async def test_a_change_that_waited_for_the_row_uses_the_balance_committed_meanwhile(postgres_user, watcher):
    # The spend starts while the balance is 0 and an earn of 10 is not yet committed: after the
    # wait it must see 10, not the 0 its statement began with.
    spend = wallet.apply_change(
        None, postgres_user.user_id, wallet.BalanceChange(-10, "spend"), wallet.Limits(None, 10**12)
    )
    result = await _while_another_change_holds_the_row(
        watcher, postgres_user, wallet.BalanceChange(10, "seed"), spend
    )
    assert result == 0
    assert (await User.get(id=postgres_user.id)).balance == 0
    assert await WalletLedger.filter(user_id=postgres_user.id).count() == 2


@postgres_only
async def test_a_capped_earn_that_waited_for_the_row_counts_the_grant_committed_meanwhile(
    postgres_user, watcher
):
    # Once a day: the held grant of the same reason commits while the second one waits, so the
    # second must be refused even though its statement's snapshot predates the first grant.
    once_a_day = wallet.Limits(None, 10**12, EarnRule(max_amount=100, daily_count=1))
    second = wallet.apply_change(None, postgres_user.user_id, wallet.BalanceChange(5, "daily"), once_a_day)
    result = await _while_another_change_holds_the_row(
        watcher, postgres_user, wallet.BalanceChange(5, "daily"), second
    )
    assert isinstance(result, EarnLimitReached)
    assert (await User.get(id=postgres_user.id)).balance == 5
    assert await WalletLedger.filter(user_id=postgres_user.id).count() == 1


@postgres_only
async def test_a_spend_that_waited_for_the_row_is_refused_when_the_balance_went_down(postgres_user, watcher):
    await wallet.apply_change(
        None, postgres_user.user_id, wallet.BalanceChange(10, "seed"), wallet.Limits(None, 10**12)
    )
    spend = wallet.apply_change(
        None, postgres_user.user_id, wallet.BalanceChange(-10, "spend"), wallet.Limits(None, 10**12)
    )
    result = await _while_another_change_holds_the_row(
        watcher, postgres_user, wallet.BalanceChange(-5, "spend"), spend
    )
    assert isinstance(result, InsufficientFunds)
    assert (await User.get(id=postgres_user.id)).balance == 5
