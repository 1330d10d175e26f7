"""The application factory: `sanic service.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sanic import Sanic
from sanic_ext import Extend

from service.config import Settings, check_production, get_settings
from service.db import close_orm, dialect_of, init_orm, warm_up
from service.domain.auth import TokenService
from service.domain.idempotency import IdempotencyStore
from service.domain.economy import Catalogue
from service.http import attribution, auth, docs, events, health, pipeline, server_wallet, wallet
from service.http.errors import JsonErrorHandler
from service.http.metrics import install_metrics
from service.http.middleware import install_middleware
from service.http.ratelimit import install_rate_limits
from service.logs import configure_logging

log = logging.getLogger("service.app")

APP_NAME = "gaming_backend"
MAX_BODY_BYTES = 1024 * 1024
CORS_METHODS = "GET,POST,PUT,DELETE"
CORS_HEADERS = "Authorization,Content-Type,X-Request-ID,Idempotency-Key"
CORS_EXPOSED = "X-Request-ID,Idempotent-Replayed,Retry-After"
IDEMPOTENCY_PURGE_INTERVAL_SECONDS = 600


def _openapi_config(settings: Settings) -> dict:
    return {
        # sanic-ext's only route is the document at /openapi.json (service.http.docs fills it);
        # its UIs load from CDNs, so service.http.docs serves Swagger UI and ReDoc itself.
        "OAS_URL_PREFIX": "",
        "OAS_URI_TO_JSON": docs.OPENAPI_PATH,
        "OAS_UI_SWAGGER": False,
        "OAS_UI_REDOC": False,
        "OAS_UI_DEFAULT": None,
        "CORS_ORIGINS": ",".join(settings.allowed_origins),
        "CORS_METHODS": CORS_METHODS,
        "CORS_ALLOW_HEADERS": CORS_HEADERS,
        "CORS_EXPOSE_HEADERS": CORS_EXPOSED,
        "CORS_SUPPORTS_CREDENTIALS": True,
    }


API_DESCRIPTION = """Wallet, events, attribution and revenue pipeline API (the contract: docs/SPEC.md).

Identity: `POST /login` returns a bearer token for a userId (with `secret` once an account is
bound); game servers move currency for any user with `X-Server-Key`; operators use
`X-Admin-Token`. Every error is `{"error", "message", "details"?, "requestId"}`."""


def _describe_api(app: Sanic) -> None:
    spec = app.ext.openapi
    spec.describe(
        "Gaming backend",
        version="3.0",
        description=API_DESCRIPTION,
    )


async def purge_idempotency_keys_forever(app: Sanic) -> None:
    store: IdempotencyStore = app.ctx.idempotency
    while True:
        try:
            purged = await store.purge_expired()
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception:  # a failed purge must not end the timer; the next one catches up
            log.exception("idempotency key purge failed")
        await asyncio.sleep(IDEMPOTENCY_PURGE_INTERVAL_SECONDS)


def create_app(settings: Settings | object | None = None, name: str = APP_NAME) -> Sanic:
    # Sanic's CLI (`sanic service.app:create_app --factory`) passes its parsed arguments here;
    # anything that is not Settings means "read the settings from the environment".
    if not isinstance(settings, Settings):
        settings = get_settings()
    check_production(settings)

    app = Sanic(
        name,
        log_config=configure_logging(json_lines=settings.is_production, level=settings.LOG_LEVEL),
        error_handler=JsonErrorHandler(),
    )
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.ACCESS_LOG = False
    app.config.RESPONSE_TIMEOUT = pipeline.response_timeout(settings, app.config.RESPONSE_TIMEOUT)
    app.config.update(_openapi_config(settings))
    app.ctx.settings = settings
    app.ctx.dialect = dialect_of(settings.DATABASE_URL)
    app.ctx.tokens = TokenService(settings.JWT_SECRET, settings.JWT_TTL_MIN)
    app.ctx.idempotency = IdempotencyStore(timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS))
    app.ctx.catalogue = Catalogue.load(settings.ECONOMY_FILE)
    if app.ctx.catalogue.rules is None:
        log.warning("no ECONOMY_FILE: clients may /earn any reason up to 100000 (development only)")

    Extend(app, built_in_extensions=False, extensions=list(docs.SANIC_EXTENSIONS))
    _describe_api(app)
    install_middleware(app)
    install_metrics(app)
    install_rate_limits(app, settings)
    for blueprint in (
        health.bp, auth.bp, wallet.bp, server_wallet.bp, events.bp, attribution.bp, pipeline.bp,
        docs.bp,
    ):
        app.blueprint(blueprint)
    docs.install_openapi_document(app)

    @app.before_server_start
    async def open_database(app: Sanic) -> None:
        await init_orm(
            settings.DATABASE_URL,
            settings.DB_POOL_MAX,
            connect_timeout=settings.DB_CONNECT_TIMEOUT_SECONDS,
            command_timeout=settings.DB_COMMAND_TIMEOUT_SECONDS,
        )
        await warm_up(settings.DATABASE_URL)

    @app.after_server_start
    async def schedule_purges(app: Sanic) -> None:
        app.ctx.purge_task = asyncio.create_task(purge_idempotency_keys_forever(app))

    @app.before_server_stop
    async def stop_purges(app: Sanic) -> None:
        app.ctx.purge_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app.ctx.purge_task

    @app.after_server_stop
    async def close_database(app: Sanic) -> None:
        await close_orm()

    return app
