"""POST /login and the bearer-token guards other blueprints reuse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from service.http.docs import BEARER, documented
from service.http.ratelimit import rate_limited
from service.http.responses import respond
from service.http.schemas import LoginRequest, LoginResponse, LogoutResponse
from service.http.validation import parse_body
from service.identity import credentials
from service.identity import tokens as auth

Handler = Callable[..., Awaitable[HTTPResponse]]

bp = Blueprint("auth")


def require_user(handler: Handler) -> Handler:
    """Rejects the request with 401 unless it carries a valid token of an existing user.

    The user row is on `request.ctx.user`.
    """

    @wraps(handler)
    async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        request.ctx.user = await auth.authenticate(
            request.app.ctx.tokens, request.headers.get("authorization")
        )
        request.ctx.user_id = request.ctx.user.user_id
        return await handler(request, *args, **kwargs)

    return guarded


def require_subject(handler: Handler) -> Handler:
    """Rejects the request with 401 unless it carries a valid token; no database read.

    The token's identity is on `request.ctx.identity` (its subject also on `request.ctx.user_id`).
    The handler's domain call must answer 401 itself when no user has that id or the token's
    version is revoked (the wallet's locking statement does, for one round trip less than
    `require_user`).
    """

    @wraps(handler)
    async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        identity = auth.verified_identity(request.app.ctx.tokens, request.headers.get("authorization"))
        request.ctx.identity = identity
        request.ctx.user_id = identity.user_id
        return await handler(request, *args, **kwargs)

    return guarded


def optional_user(handler: Handler) -> Handler:
    """Like require_user when an Authorization header is sent; `request.ctx.user` None otherwise."""

    @wraps(handler)
    async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        header = request.headers.get("authorization")
        request.ctx.user = await auth.authenticate(request.app.ctx.tokens, header) if header else None
        return await handler(request, *args, **kwargs)

    return guarded


@bp.post("/login")
@documented(
    "Log in (creates the user on first login; a `secret` binds the account to it) and get a "
    "bearer token. 401 invalid_credentials / credentials_required; 429 after too many failures.",
    tag="auth",
    body=LoginRequest,
    ok=LoginResponse,
    errors=(400, 401, 422, 429),
)
@rate_limited("login")
async def login(request: Request) -> HTTPResponse:
    body = parse_body(LoginRequest, request)
    app = request.app
    failures = credentials.FailureLimit(app.ctx.rate_limiter, app.ctx.rates["login_failures"])
    user = await credentials.login(
        body.userId, body.secret, bare_allowed=app.ctx.settings.bare_login_allowed, failures=failures
    )
    issued = datetime.now(UTC)
    tokens = app.ctx.tokens
    return respond(
        LoginResponse(
            token=tokens.issue(user.user_id, now=issued, version=user.token_version),
            userId=user.user_id,
            expiresAt=tokens.expiry(issued),
        )
    )


@bp.post("/logout")
@documented(
    "Revoke every token issued to the caller so far",
    tag="auth",
    ok=LogoutResponse,
    errors=(401,),
    security=BEARER,
)
@require_subject
async def logout(request: Request) -> HTTPResponse:
    await auth.logout(request.ctx.identity)
    return respond(LogoutResponse(ok=True))
