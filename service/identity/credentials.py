"""Bound accounts (SPEC §3b): a userId plus a secret, stored as an argon2id hash.

A login with `secret` on an account with no credential binds it; from then on only that secret
enters it, in every environment. A bare login (no secret) is the brief's flow and only allowed
where the configuration says so, never for a bound account. Failed logins are counted per userId
so a secret cannot be guessed online.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.errors import RateLimited, Unauthorized
from service.identity.tokens import get_or_create_user
from service.infrastructure.redis_rate_limit import Rate, RateLimiter
from service.models import User

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): tens of ms per login on one core, which
# makes an offline guess as costly while an online one is already capped by the failure limit.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
FAILURE_SCOPE = "login-failures"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class CredentialsRequired(Unauthorized):
    code = "credentials_required"


async def hash_secret(secret: str) -> str:
    # argon2 releases the GIL: hashing in a thread keeps the event loop serving other requests.
    return await asyncio.to_thread(HASHER.hash, secret)


async def secret_matches(stored_hash: str, secret: str) -> bool:
    try:
        return await asyncio.to_thread(HASHER.verify, stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class FailureLimit:
    """Failed logins per userId, in the shared rate-limit store when there is one."""

    limiter: RateLimiter
    rate: Rate

    async def check(self, user_id: str) -> None:
        refusal = await self.limiter.spent(FAILURE_SCOPE, user_id, self.rate)
        if refusal is not None:
            raise RateLimited(
                f"Too many failed logins for this user; retry after {refusal.reset_after_s} s",
                refusal.reset_after_s,
            )

    async def record(self, user_id: str) -> None:
        await self.limiter.hit(FAILURE_SCOPE, user_id, self.rate)


def _refused_bare() -> CredentialsRequired:
    return CredentialsRequired("This account needs its secret to log in")


async def _bind(user: User, secret_hash: str) -> User:
    """Binds an unbound account; a concurrent bind that won first decides which secret holds."""
    if await User.filter(id=user.id, secret_hash=None).update(secret_hash=secret_hash):
        user.secret_hash = secret_hash
        return user
    return await User.get(id=user.id)


async def login(user_id: str, secret: str | None, *, bare_allowed: bool, failures: FailureLimit) -> User:
    """The user this login enters (created, and bound when a secret is given, on first login).

    Unknown and bound accounts refuse a bare login with the same answer; a wrong secret is
    401 invalid_credentials; every refusal counts towards the per-userId failure limit.
    """
    await failures.check(user_id)
    user = await User.get_or_none(user_id=user_id)
    if secret is None:
        if not bare_allowed or (user is not None and user.secret_hash is not None):
            await failures.record(user_id)
            raise _refused_bare()
        return user or await get_or_create_user(user_id)
    if user is None or user.secret_hash is None:
        new_hash = await hash_secret(secret)
        user = await get_or_create_user(user_id, new_hash) if user is None else user
        if user.secret_hash is None:  # unbound, or a concurrent bare login created it first
            user = await _bind(user, new_hash)
        if user.secret_hash == new_hash:
            return user
    if user.secret_hash is not None and await secret_matches(user.secret_hash, secret):
        return user
    await failures.record(user_id)
    raise InvalidCredentials("The userId or secret is wrong")
