"""Wallet rules used directly (no HTTP), on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from service.errors import (
    InsufficientFunds,
)
from service.idempotency.store import IdempotencyStore
from service.identity import tokens as auth
from service.models import User, WalletLedger
from service.wallet import rules as wallet

STORE = IdempotencyStore(ttl=timedelta(hours=1))

UNCAPPED = wallet.Limits(None, max_balance=10**12)


async def _user(user_id: str) -> User:
    return await auth.get_or_create_user(user_id)


async def test_concurrent_changes_in_one_process_keep_the_invariant(orm):
    user = await _user("domain_racer")
    earn = wallet.BalanceChange(3, "race")
    await asyncio.gather(
        *(wallet.change_balance(STORE, user.user_id, earn, "/earn", "fp", UNCAPPED) for _ in range(100))
    )
    spend = wallet.BalanceChange(-7, "race")
    results = await asyncio.gather(
        *(wallet.change_balance(STORE, user.user_id, spend, "/spend", "fp", UNCAPPED) for _ in range(60)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(refused) == 60 - 300 // 7
    balance = (await User.get(id=user.id)).balance
    deltas = await WalletLedger.filter(user_id=user.id).values_list("delta", flat=True)
    assert balance == sum(deltas) == 300 - 7 * (300 // 7)
