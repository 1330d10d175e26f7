"""Assertions and waits shared by the API tests."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx


async def ledger_matches_balance(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    """Asserts balance == sum of ledger deltas >= 0 and every balanceAfter is >= 0; returns it."""
    balance = (await client.get("/balance", headers=headers)).json()["balance"]
    deltas, offset = [], 0
    while True:
        page = (await client.get(f"/ledger?limit=1000&offset={offset}", headers=headers)).json()
        deltas += [e["delta"] for e in page["entries"]]
        assert all(e["balanceAfter"] >= 0 for e in page["entries"])
        if not page["hasMore"]:
            break
        offset += len(page["entries"])
    assert balance == sum(deltas) >= 0
    return balance


async def wait_until_blocked_on_a_lock(conn: asyncpg.Connection, what: str, seconds: float = 30) -> None:
    """Until some session of `conn`'s database waits for a lock (`what`, the change under test).

    `conn` must be outside any open transaction: one sees pg_stat_activity as of its first look.
    """
    for _ in range(int(seconds * 10)):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never waited for a lock in the database")
