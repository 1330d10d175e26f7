"""Login and bearer tokens: HS256 JWTs with `sub`, `iat`, `exp` (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from tortoise.exceptions import IntegrityError

from service.domain.errors import Unauthorized
from service.models import User

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = {"require": ["sub", "iat", "exp"]}


@dataclass(frozen=True, slots=True)
class TokenService:
    secret: str
    ttl_minutes: int

    def issue(self, user_id: str, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {"sub": user_id, "iat": issued, "exp": issued + timedelta(minutes=self.ttl_minutes)}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def subject(self, token: str) -> str:
        """The verified `sub`; only HS256 with our secret, unexpired, with all claims, passes."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], options=_REQUIRED_CLAIMS)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is invalid") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("The token has no subject")
        return subject


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise Unauthorized("An Authorization: Bearer token is required")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("The Authorization header must be 'Bearer <token>'")
    return token


async def login(user_id: str) -> User:
    """The user with this id, created with balance 0 on first login."""
    user = await User.get_or_none(user_id=user_id)
    if user is not None:
        return user
    try:
        return await User.create(user_id=user_id, balance=0)
    except IntegrityError:
        # A concurrent first login created it between our read and insert.
        return await User.get(user_id=user_id)


async def authenticate(tokens: TokenService, authorization: str | None) -> User:
    """The user a bearer header proves; one database read (the user row)."""
    subject = tokens.subject(bearer_token(authorization))
    user = await User.get_or_none(user_id=subject)
    if user is None:
        raise Unauthorized("The token's user does not exist")
    return user
