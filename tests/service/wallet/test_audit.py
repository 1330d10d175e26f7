"""Balance audit on SQLite and PostgreSQL: the domain function and `python -m service audit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from service.db import close_orm, init_orm
from service.models import User, WalletLedger
from service.wallet.audit import audit_balances
from tests.conftest import repo_root, service_env


@pytest.fixture
async def orm(db_url: str) -> AsyncIterator[str]:
    await init_orm(db_url)
    try:
        yield db_url
    finally:
        await close_orm()


async def _user(user_id: str, balance: int, deltas: list[int]) -> User:
    """A user whose stored balance is `balance` and whose ledger holds `deltas`."""
    user = await User.create(user_id=user_id, balance=balance)
    running = 0
    for delta in deltas:
        running += delta
        await WalletLedger.create(
            user=user, delta=delta, balance_after=running, reason="test", ts=datetime.now(UTC)
        )
    return user


async def test_consistent_balances_have_no_discrepancies(orm: str) -> None:
    await _user("alice", 150, [100, 100, -50])
    await _user("bob", 0, [])
    await _user("carol", 0, [10, -10])

    report = await audit_balances()

    assert (report.users_checked, report.discrepancies, report.offenders) == (3, 0, [])


async def test_each_kind_of_discrepancy_is_reported(orm: str) -> None:
    await _user("fine", 30, [30])
    await _user("drifted", 31, [30])
    await _user("no-ledger", 5, [])
    await _user("negative", -5, [10, -15])

    report = await audit_balances()

    assert report.users_checked == 4
    assert report.discrepancies == 3
    found = {(o.user_id, o.balance, o.ledger_sum, o.problem) for o in report.offenders}
    assert found == {
        ("drifted", 31, 30, "balance_differs_from_ledger"),
        ("no-ledger", 5, 0, "balance_differs_from_ledger"),
        ("negative", -5, -5, "negative_balance"),
    }


async def test_limit_trims_the_list_but_every_offender_is_counted(orm: str) -> None:
    for index in range(5):
        await _user(f"user-{index}", 1, [])

    report = await audit_balances(limit=2)

    assert report.discrepancies == 5
    assert [o.user_id for o in report.offenders] == ["user-0", "user-1"]
    assert "... and 3 more" in report.as_text()


async def test_limit_below_one_is_refused(orm: str) -> None:
    with pytest.raises(ValueError):
        await audit_balances(limit=0)


def _audit_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **service_env(db_url)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "service", "audit", *args],
        cwd=repo_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_exits_zero_when_clean_and_one_with_offenders(orm: str) -> None:
    await _user("alice", 10, [10])
    clean = _audit_cli(orm)
    assert clean.returncode == 0, clean.stderr
    assert "1 users checked, 0 discrepancies" in clean.stdout

    await User.filter(user_id="alice").update(balance=11)
    dirty = _audit_cli(orm, "--json")
    assert dirty.returncode == 1, dirty.stderr
    body = json.loads(dirty.stdout)
    assert body["usersChecked"] == 1 and body["discrepancies"] == 1
    assert body["offenders"] == [
        {"userId": "alice", "balance": 11, "ledgerSum": 10, "problem": "balance_differs_from_ledger"}
    ]


def test_cli_rejects_a_limit_below_one(tmp_path) -> None:
    result = _audit_cli(f"sqlite:///{tmp_path / 'none.db'}", "--limit", "0")
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
