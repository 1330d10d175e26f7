"""Assertions shared by the API tests."""

from __future__ import annotations

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
