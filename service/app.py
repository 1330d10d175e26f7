"""The application factory: `sanic service.app:create_app --factory`."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

from sanic import Sanic
from sanic_ext import Extend

from service.config import Settings, check_production, get_settings
from service.db import dialect_of
from service.events import routes as events
from service.http import docs
from service.http.errors import JsonErrorHandler
from service.http.middleware import install_middleware
from service.http.ratelimit import install_rate_limits
from service.idempotency.store import IdempotencyStore
from service.identity import routes as auth
from service.identity.tokens import TokenService
from service.lifecycle import install_lifecycle
from service.logs import configure_logging
from service.monitoring import health_routes as health
from service.monitoring.http_metrics import install_metrics
from service.pipeline_runs import routes as pipeline
from service.postbacks import routes as attribution
from service.sanic_types import App
from service.wallet import routes as wallet
from service.wallet import server_routes as server_wallet
from service.wallet.economy import Catalogue

log = logging.getLogger("service.app")

APP_NAME = "gaming_backend"
MAX_BODY_BYTES = 1024 * 1024
CORS_METHODS = "GET,POST,PUT,DELETE"
CORS_HEADERS = "Authorization,Content-Type,X-Request-ID,Idempotency-Key"
CORS_EXPOSED = "X-Request-ID,Idempotent-Replayed,Retry-After"


def _openapi_config(settings: Settings) -> dict[str, Any]:
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


def _describe_api(app: App) -> None:
    spec = app.ext.openapi
    spec.describe(
        "Gaming backend",
        version="3.0",
        description=API_DESCRIPTION,
    )


def create_app(settings: Settings | object | None = None, name: str = APP_NAME) -> App:
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
    app.config.RESPONSE_TIMEOUT = math.ceil(pipeline.response_timeout(settings, app.config.RESPONSE_TIMEOUT))
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
        health.bp,
        auth.bp,
        wallet.bp,
        server_wallet.bp,
        events.bp,
        attribution.bp,
        pipeline.bp,
        docs.bp,
    ):
        app.blueprint(blueprint)
    docs.install_openapi_document(app)

    install_lifecycle(app)
    return app
