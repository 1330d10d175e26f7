"""Rate limits on routes: per client IP (`/track`, `/login`) or per user (wallet writes, `/event`);
counting is service.infrastructure.redis_rate_limit.

The client is the socket peer. Behind a reverse proxy set Sanic's own trust settings
(`SANIC_PROXIES_COUNT=1`, or `SANIC_REAL_IP_HEADER` / `SANIC_FORWARDED_SECRET`); only then does a
forwarding header count, so a caller cannot pick a fresh address per request by sending one.

Several workers need a shared store (`REDIS_URL`). Without one each worker would count on its
own, multiplying the limit, so the service refuses to start that way in production and logs a
warning in development.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from service.config import Settings
from service.errors import RateLimited
from service.infrastructure.redis_rate_limit import Rate
from service.sanic_types import App

log = logging.getLogger("service.ratelimit")

Handler = Callable[..., Awaitable[HTTPResponse]]


class UnsharedRateLimits(SystemExit):
    def __init__(self, workers: int) -> None:
        super().__init__(
            f"Refusing to start {workers} workers with ENVIRONMENT=production without REDIS_URL: "
            "rate limits would be counted per worker. Set REDIS_URL or WEB_WORKERS=1."
        )


def configured_rates(settings: Settings) -> dict[str, Rate]:
    return {
        "track": Rate.parse(settings.TRACK_RATE_LIMIT),
        "login": Rate.parse(settings.LOGIN_RATE_LIMIT),
        "wallet": Rate.parse(settings.WALLET_RATE_LIMIT),
        "login_failures": Rate.parse(settings.LOGIN_FAILURE_LIMIT),
    }


def install_rate_limits(app: App, settings: Settings) -> None:
    app.ctx.rates = configured_rates(settings)

    @app.main_process_start
    async def refuse_unshared_limits(app: App) -> None:
        workers = app.state.workers
        if workers > 1 and not settings.REDIS_URL:
            if settings.is_production:
                raise UnsharedRateLimits(workers)
            log.warning(
                "RATE LIMITS ARE PER WORKER: %d workers and no REDIS_URL, so each client gets "
                "%d times its budget. Set REDIS_URL for a shared count.",
                workers,
                workers,
            )


def _client_ip(request: Request) -> str:
    return request.client_ip


def _caller(request: Request) -> str:
    # Set by the auth guards (service.identity.routes), which must run before this limit.
    user_id: str = request.ctx.user_id
    return user_id


def rate_limited(scope: str, per_user: bool = False) -> Callable[[Handler], Handler]:
    """Answer 429 with Retry-After once the client's budget for `scope` is spent.

    The client is the peer IP, or with `per_user` the authenticated caller (place it below an
    auth guard)."""
    client_of = _caller if per_user else _client_ip

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def limited(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            app = request.app
            decision = await app.ctx.rate_limiter.hit(scope, client_of(request), app.ctx.rates[scope])
            if not decision.allowed:
                raise RateLimited(
                    f"Too many requests: at most {decision.limit} per "
                    f"{app.ctx.rates[scope].window_s} s; retry after {decision.reset_after_s} s",
                    decision.reset_after_s,
                )
            return await handler(request, *args, **kwargs)

        return limited

    return decorate
