"""Balance audit at scale: 1,000,000 users (3 ledger rows each) on PostgreSQL.

On a fresh database migrated by `python -m service migrate` (bench/scratch_database.py), seeds users
and ledger rows with generate_series (consistent: balance = sum of deltas), plants a few
discrepancies, then times service.wallet.audit.audit_balances (several runs) and the
`python -m service audit` command end to end.

    .venv/bin/python -m bench.audit_scale                 # 1,000,000 users
    .venv/bin/python -m bench.audit_scale --users 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import asyncpg

from bench.scratch_database import REPO_ROOT, scratch_database

PLANTED = {"audit-user-17": 1, "audit-user-4242": -5}  # user -> balance drift

SEED_SQL = """
INSERT INTO users (user_id, balance)
SELECT 'audit-user-' || g, 150 FROM generate_series(1, $1::int) AS g;
"""
LEDGER_SQL = """
INSERT INTO wallet_ledger (user_id, delta, balance_after, reason, ts)
SELECT u.id, d.delta, d.after, 'seed', now()
FROM users AS u CROSS JOIN (VALUES (100, 100), (100, 200), (-50, 150)) AS d(delta, after);
"""


async def _seed(url: str, users: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED_SQL.replace("$1::int", str(int(users))))
        await conn.execute(LEDGER_SQL)
        for user_id, drift in PLANTED.items():
            await conn.execute("UPDATE users SET balance = balance + $1 WHERE user_id = $2", drift, user_id)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _time_audits(url: str, runs: int) -> list[tuple[float, int, int]]:
    from service.db import close_orm, init_orm
    from service.wallet.audit import audit_balances

    await init_orm(url, pool_max=2)
    try:
        results = []
        for _ in range(runs):
            report = await audit_balances()
            results.append((report.seconds, report.users_checked, report.discrepancies))
        return results
    finally:
        await close_orm()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_scale")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with scratch_database("audit") as url:
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        seeded = asyncio.run(_seed(url, args.users))
        print(
            f"seeded {args.users} users, {3 * args.users} ledger rows in {seeded:.1f} s; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        for seconds, checked, found in asyncio.run(_time_audits(url, args.runs)):
            print(
                f"audit_balances: {seconds:.3f} s, {checked} users, {found} discrepancies "
                f"(planted {len(PLANTED)})"
            )
        started = time.perf_counter()
        cli = subprocess.run(
            [sys.executable, "-m", "service", "audit"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        print(
            f"`python -m service audit` end to end: {time.perf_counter() - started:.2f} s, "
            f"exit {cli.returncode}\n{cli.stdout.strip()}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
