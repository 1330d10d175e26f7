"""What the ORM costs per operation: the /earn transaction and the auth read, Tortoise vs raw.

No HTTP: one process, uvloop, C concurrent tasks for T seconds per variant, against a fresh
PostgreSQL database migrated with `python -m service migrate` and seeded like api_load.
Prints operations/s and this process's CPU microseconds per operation, the Python-side cost
that HTTP then adds to.

    .venv/bin/python -m bench.orm_overhead [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import uvloop
from tortoise import Tortoise
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bench import pg_database as pg
from bench.api_load import server_env
from bench.yardstick_app import INSERT_LEDGER_SQL, LOCK_USER_SQL, UPDATE_BALANCE_SQL

Operation = Callable[[str], Awaitable[object]]


async def _drive(operation: Operation, users: int, concurrency: int, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await operation(f"{pg.USER_ID_PREFIX}{random.randint(1, users)}")
            done += 1

    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {"ops_per_s": round(done / wall), "cpu_us_per_op": round(1e6 * cpu / max(done, 1))}


def _raw_operations(pool: asyncpg.Pool) -> dict[str, Operation]:
    async def earn(user_id: str) -> int:
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(LOCK_USER_SQL, user_id)
            balance = row["balance"] + 1
            await conn.execute(UPDATE_BALANCE_SQL, balance, row["id"])
            await conn.execute(INSERT_LEDGER_SQL, row["id"], 1, balance, "bench", "r", datetime.now(UTC))
        return balance

    async def read_user(user_id: str) -> object:
        async with pool.acquire() as conn:
            return await conn.fetchrow("SELECT id, user_id, balance FROM users WHERE user_id = $1", user_id)

    return {"raw earn txn": earn, "raw user read": read_user}


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skips asyncpg's per-release reset query (a round trip) to show what it costs."""


def _tortoise_operations() -> dict[str, Operation]:
    from service.models import User, WalletLedger

    async def earn(user_id: str) -> int:
        async with in_transaction():
            user = await User.select_for_update().get(user_id=user_id)
            user.balance += 1
            await user.save(update_fields=["balance"])
            await WalletLedger.create(
                user=user,
                delta=1,
                balance_after=user.balance,
                reason="bench",
                request_id="r",
                ts=datetime.now(UTC),
            )
        return user.balance

    async def earn_f_update(user_id: str) -> int:
        async with in_transaction():
            user = await User.select_for_update().get(user_id=user_id)
            await User.filter(id=user.id).update(balance=F("balance") + 1)
            await WalletLedger.create(
                user_id=user.id,
                delta=1,
                balance_after=user.balance + 1,
                reason="bench",
                request_id="r",
                ts=datetime.now(UTC),
            )
        return user.balance + 1

    async def earn_raw_sql(user_id: str) -> int:
        # Tortoise's transaction and connection wrapper, but no query builder or model objects.
        async with in_transaction() as connection:
            _, rows = await connection.execute_query(LOCK_USER_SQL, [user_id])
            balance = rows[0]["balance"] + 1
            await connection.execute_query(UPDATE_BALANCE_SQL, [balance, rows[0]["id"]])
            await connection.execute_query(
                INSERT_LEDGER_SQL, [rows[0]["id"], 1, balance, "bench", "r", datetime.now(UTC)]
            )
        return balance

    async def read_user(user_id: str) -> object:
        return await User.get_or_none(user_id=user_id)

    return {
        "tortoise earn txn (save)": earn,
        "tortoise earn txn (F update)": earn_f_update,
        "tortoise earn txn (raw SQL)": earn_raw_sql,
        "tortoise user read": read_user,
    }


async def _run(url: str, args: argparse.Namespace) -> list[tuple[str, dict]]:
    from service.db import tortoise_config

    await Tortoise.init(config=tortoise_config(url, args.concurrency))
    size = args.concurrency
    pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
    lean_pool = await asyncpg.create_pool(url, min_size=size, max_size=size, reset=_keep_session)
    results = []
    try:
        raw, lean, orm = _raw_operations(pool), _raw_operations(lean_pool), _tortoise_operations()
        variants = [
            ("raw earn txn, no pool reset", lean["raw earn txn"]),
            ("raw earn txn", raw["raw earn txn"]),
            ("tortoise earn txn (save)", orm["tortoise earn txn (save)"]),
            ("tortoise earn txn (F update)", orm["tortoise earn txn (F update)"]),
            ("tortoise earn txn (raw SQL)", orm["tortoise earn txn (raw SQL)"]),
            ("raw user read, no pool reset", lean["raw user read"]),
            ("raw user read", raw["raw user read"]),
            ("tortoise user read", orm["tortoise user read"]),
        ]
        for name, operation in variants:
            await _drive(operation, args.users, args.concurrency, 1)  # warm-up
            figures = await _drive(operation, args.users, args.concurrency, args.seconds)
            print(
                f"  {name:<30} {figures['ops_per_s']:>7} ops/s {figures['cpu_us_per_op']:>6} us CPU/op",
                flush=True,
            )
            results.append((name, figures))
    finally:
        await pool.close()
        await lean_pool.close()
        await Tortoise.close_connections()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    database = pg.new_database_name("orm")
    url = pg.create_database(database)
    try:
        pg.migrate_with_service(server_env(url, secrets.token_urlsafe(48), 1, 4))
        pg.seed_users(url, args.users)
        print(f"load={os.getloadavg()} concurrency={args.concurrency} seconds={args.seconds}")
        uvloop.run(_run(url, args))
    finally:
        pg.drop_database(database)


if __name__ == "__main__":
    main()
