"""POST /login and the bearer-token guards other blueprints reuse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from service.domain import auth
from service.http.docs import documented
from service.http.ratelimit import rate_limited
from service.http.schemas import LoginRequest, LoginResponse
from service.http.validation import parse_body

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
        return await handler(request, *args, **kwargs)

    return guarded


def optional_user(handler: Handler) -> Handler:
    """Like require_user when an Authorization header is sent; `request.ctx.user` None otherwise."""

    @wraps(handler)
    async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        header = request.headers.get("authorization")
        request.ctx.user = (
            await auth.authenticate(request.app.ctx.tokens, header) if header else None
        )
        return await handler(request, *args, **kwargs)

    return guarded


@bp.post("/login")
@documented(
    "Log in (creates the user on first login) and get a bearer token",
    tag="auth",
    body=LoginRequest,
    ok=LoginResponse,
    errors=(400, 422, 429),
)
@rate_limited("login")
async def login(request: Request) -> HTTPResponse:
    body = parse_body(LoginRequest, request)
    user = await auth.login(body.userId)
    return json({"token": request.app.ctx.tokens.issue(user.user_id), "userId": user.user_id})
