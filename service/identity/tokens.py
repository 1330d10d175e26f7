"""Login and bearer tokens: HS256 JWTs with `sub`, `iat`, `exp` and a token version `ver`
(SPEC §2, §3b). Credentials (bound accounts) live in service.identity.credentials."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from jwt.types import Options
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from service.errors import Unauthorized
from service.models import User

ALGORITHM = "HS256"
_REQUIRED_CLAIMS: Options = {"require": ["sub", "iat", "exp"]}


@dataclass(frozen=True, slots=True)
class Identity:
    """What a verified token says: the user and the token version it was issued under."""

    user_id: str
    version: int


class TokenRevoked(Unauthorized):
    code = "token_revoked"


# Verifying an HS256 JWT (base64, JSON, HMAC, claim checks) is a measurable share of a wallet
# request's CPU, and a client sends the same token many times. A token that passed once maps to
# what it proved and when it expires; expiry is still checked on every use. Revocation is not
# decided here (the wallet statements check the version), so caching cannot outlive a logout.
VERIFIED_TOKENS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class TokenService:
    secret: str
    ttl_minutes: int
    _verified: dict[str, tuple[Identity, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def expiry(self, issued: datetime) -> datetime:
        return issued + timedelta(minutes=self.ttl_minutes)

    def issue(self, user_id: str, now: datetime | None = None, version: int = 0) -> str:
        issued = now or datetime.now(UTC)
        claims = {"sub": user_id, "iat": issued, "exp": self.expiry(issued), "ver": version}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def subject(self, token: str) -> str:
        return self.identity(token).user_id

    def identity(self, token: str) -> Identity:
        """The verified `sub`; only HS256 with our secret, unexpired, with all claims, passes."""
        cached = self._verified.get(token)
        if cached is not None:
            identity, expires_at = cached
            if time.time() < expires_at:
                return identity
            del self._verified[token]
            raise Unauthorized("The token has expired")
        identity, expires_at = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[token] = (identity, expires_at)
        return identity

    def _verify(self, token: str) -> tuple[Identity, float]:
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], options=_REQUIRED_CLAIMS)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is invalid") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("The token has no subject")
        # Tokens from before versions existed count as version 0: the first /logout revokes them.
        version = claims.get("ver", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise Unauthorized("The token is invalid")
        # PyJWT accepted `exp`, so it is a number; it refuses a token once `exp <= now`.
        return Identity(subject, version), float(claims["exp"])


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise Unauthorized("An Authorization: Bearer token is required")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("The Authorization header must be 'Bearer <token>'")
    return token


async def get_or_create_user(user_id: str, secret_hash: str | None = None) -> User:
    """The user with this id, created with balance 0 (and `secret_hash`) on first login."""
    user = await User.get_or_none(user_id=user_id)
    if user is not None:
        return user
    try:
        return await User.create(user_id=user_id, balance=0, secret_hash=secret_hash)
    except IntegrityError:
        # A concurrent first login created it between our read and insert.
        return await User.get(user_id=user_id)


def verified_identity(tokens: TokenService, authorization: str | None) -> Identity:
    """The user and token version a bearer header proves, from the token alone (no database read).

    The caller must still treat a subject with no user row as 401 (`unknown_user()`) and an old
    version as 401 (`check_version`), in the statement that locks or reads the row.
    """
    return tokens.identity(bearer_token(authorization))


def unknown_user() -> Unauthorized:
    return Unauthorized("The token's user does not exist")


def check_version(identity: Identity, current_version: int) -> None:
    if identity.version < current_version:
        raise TokenRevoked("The token was revoked by a logout; log in again")


async def authenticate(tokens: TokenService, authorization: str | None) -> User:
    """The user a bearer header proves; one database read (the user row)."""
    return await user_of(verified_identity(tokens, authorization))


async def user_of(identity: Identity, conn: BaseDBAsyncClient | None = None) -> User:
    """The user a verified token names; Unauthorized when there is none, TokenRevoked when the
    token is older than the user's last logout."""
    user = await User.get_or_none(using_db=conn, user_id=identity.user_id)
    if user is None:
        raise unknown_user()
    check_version(identity, user.token_version)
    return user


async def logout(identity: Identity) -> None:
    """Revokes every token issued to this user so far (one conditional UPDATE)."""
    changed = await User.filter(user_id=identity.user_id, token_version__lte=identity.version).update(
        token_version=identity.version + 1
    )
    if changed:
        return
    await user_of(identity)  # raises why nothing changed
