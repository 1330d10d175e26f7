"""OpenAPI annotations built from the Pydantic models, so the document cannot drift from the code,
and the docs UIs served from the service itself.

Models are registered as components through Pydantic's own JSON schema (`Component`), not
sanic-ext's type-hint reading, which renders Literal and Optional fields loosely.
One document, at /openapi.json; Swagger UI at /docs and ReDoc at /redoc render it from assets
vendored under static/ (pinned npm builds, see tools/vendor_docs_assets.py): no CDN, no web
fonts, so the docs work on a network with no way out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, json, redirect
from sanic_ext import openapi
from sanic_ext.extensions.health.extension import HealthExtension
from sanic_ext.extensions.http.extension import HTTPExtension
from sanic_ext.extensions.logging.extension import LoggingExtension
from sanic_ext.extensions.openapi.builders import SpecificationBuilder
from sanic_ext.extensions.openapi.definitions import Component, Parameter, Response
from sanic_ext.extensions.openapi.extension import OpenAPIExtension
from sanic_ext.extensions.openapi.types import Schema

from service.http.schemas import ErrorResponse
from service.sanic_types import App

OPENAPI_VERSION = "3.1.0"
OPENAPI_PATH = "/openapi.json"
STATIC_DIR = Path(__file__).resolve().parent / "static"
Security = list[dict[str, list[str]]]
BEARER: Security = [{"bearer": []}]
OPTIONAL_BEARER: Security = [{}, {"bearer": []}]
OPTIONAL_BEARER_OR_ADMIN: Security = [{}, {"bearer": []}, {"adminToken": []}]
ADMIN_TOKEN: Security = [{"adminToken": []}]
SERVER_KEY: Security = [{"serverKey": []}]

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The `token` from POST /login, as `Authorization: Bearer <token>`.",
    },
    "adminToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Admin-Token",
        "description": "ADMIN_TOKEN, for operators (pipeline, metrics, other users' stats).",
    },
    "serverKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Server-Key",
        "description": "SERVER_KEY, for game servers and the back office (server grants).",
    },
}

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON (`invalid_json`)",
    401: "Missing or invalid credentials",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body, URL or headers over the size limit",
    422: "Validation failed (details name the field)",
    429: "Rate limited (`rate_limited`, with `Retry-After`)",
    503: "Database unreachable (`database_unavailable`, with `Retry-After`)",
}
# What 401 and 403 mean depends on the credential the route takes.
_AUTH_DESCRIPTIONS: dict[str, dict[int, str]] = {
    "bearer": {
        401: "Bearer token missing, malformed, expired, signed with another key or algorithm, "
        "of an unknown user, or revoked by /logout (`token_revoked`); carries "
        "`WWW-Authenticate: Bearer`",
    },
    "adminToken": {
        401: "X-Admin-Token header missing",
        403: "X-Admin-Token does not match ADMIN_TOKEN (or admin access is disabled: no ADMIN_TOKEN "
        "outside development)",
    },
    "serverKey": {
        401: "X-Server-Key header missing",
        403: "X-Server-Key does not match SERVER_KEY",
    },
}


def error_descriptions(security: Security | None) -> dict[int, str]:
    """The generic texts, with 401/403 named after the route's security schemes."""
    descriptions = dict(_ERROR_DESCRIPTIONS)
    for status in (401, 403):
        texts = [
            _AUTH_DESCRIPTIONS[scheme][status]
            for requirement in security or ()
            for scheme in requirement
            if status in _AUTH_DESCRIPTIONS.get(scheme, {})
        ]
        if texts:
            descriptions[status] = "; or ".join(texts)
    return descriptions


class JsonSchema(Schema):
    """A schema given as Pydantic's JSON schema dict, emitted as is (sanic-ext would re-read a
    plain dict as an object description)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # sanic-ext's Definition is untyped
        self.schema = schema

    def serialize(self) -> dict[str, Any]:
        return self.schema


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    # An optional query parameter is simply absent; its schema is the non-null alternative.
    alternatives = [alt for alt in prop.get("anyOf", []) if alt.get("type") != "null"]
    if len(alternatives) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**alternatives[0], **rest}


IDEMPOTENCY_KEY_PARAMETER = Parameter(
    "Idempotency-Key",
    schema=JsonSchema({"type": "string", "minLength": 1, "maxLength": 255}),
    location="header",
    required=False,
    description="Retry-safe key (bare or quoted). A replayed response carries "
    "`Idempotent-Replayed: true`; 409 while the first request is in flight; 422 "
    "idempotency_key_reused for another body.",
)


def query_parameters(model: type[BaseModel]) -> list[Parameter]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        Parameter(name, schema=JsonSchema(_without_null(prop)), location="query", required=name in required)
        for name, prop in schema["properties"].items()
    ]


def documented(
    summary: str,
    *,
    tag: str,
    ok: type[BaseModel] | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    ok_status: int = 200,
    errors: tuple[int, ...] = (),
    security: Security | None = None,
    idempotent: bool = False,
    error_texts: dict[int, str] | None = None,
) -> Callable[[Any], Any]:
    """`security` lists alternatives (OpenAPI ORs them); `{}` among them means "or anonymous".
    `error_texts` replaces the description of a status where the route means something narrower."""
    descriptions = {**error_descriptions(security), **(error_texts or {})}
    responses = [
        Response(
            {"application/json": Component(ok)} if ok else None,
            status=ok_status,
            description="Success",
        )
    ]
    responses += [
        Response(
            {"application/json": Component(ErrorResponse)},
            status=code,
            description=descriptions[code],
        )
        # Any route answers 413 to an over-long URL or header block, so every route says so.
        for code in sorted({*errors, 413})
    ]
    kwargs: dict[str, Any] = {"summary": summary, "tag": tag, "response": responses}
    if body is not None:
        kwargs["body"] = {"application/json": Component(body)}
    parameters = query_parameters(query) if query is not None else []
    if idempotent:
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    if parameters:
        kwargs["parameter"] = parameters
    define = openapi.definition(**kwargs)

    def decorate(handler: Any) -> Any:
        handler = define(handler)
        for requirement in security or ():
            handler = openapi.secured(requirement)(handler)
        return handler

    return decorate


bp = Blueprint("api_docs")
bp.static("/docs/assets", str(STATIC_DIR), name="docs_assets")


def openapi_document(app: App) -> dict[str, Any]:
    document: dict[str, Any] = SpecificationBuilder().build(app).serialize()  # type: ignore[no-untyped-call]
    # The schemas are Pydantic's JSON Schema 2020-12 (e.g. `"type": "null"` alternatives),
    # which is the dialect of OpenAPI 3.1; sanic-ext labels every document 3.0.3.
    document["openapi"] = OPENAPI_VERSION
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    return document


async def serve_openapi_document(request: Request) -> HTTPResponse:
    return json(openapi_document(request.app))


class OpenAPIDocumentOnly(OpenAPIExtension):  # type: ignore[no-untyped-call]  # sanic-ext is untyped
    """sanic-ext's OpenAPI extension with its UIs switched off (they load from CDNs): its one
    route is the document. The stock one names its UI page in the start-up log and fails
    without one."""

    name = "openapidocument"

    def label(self) -> str:
        return OPENAPI_PATH if self.app.config.OAS else ""


# sanic-ext's built-in extensions, with the OpenAPI one swapped (`Extend(app, extensions=...)`).
# Dependency injection is left out: no handler asks for it, and it costs a signal on every request.
SANIC_EXTENSIONS = (OpenAPIDocumentOnly, HTTPExtension, HealthExtension, LoggingExtension)


def install_openapi_document(app: App) -> None:
    """Make sanic-ext's document route (configured at OPENAPI_PATH) answer our document.

    sanic-ext always registers a route for its document; serving ours from that same route,
    rather than adding a second one, keeps exactly one document.
    """
    routes = [route for route in app.router.routes if route.path == OPENAPI_PATH.lstrip("/")]
    if len(routes) != 1:
        raise RuntimeError(f"expected sanic-ext's {OPENAPI_PATH} route, found {len(routes)}")
    routes[0].handler = serve_openapi_document


@bp.get("/docs")
@openapi.exclude()
async def swagger_ui(request: Request) -> HTTPResponse:
    return await file(STATIC_DIR / "ui" / "swagger.html")


@bp.get("/redoc")
@openapi.exclude()
async def redoc(request: Request) -> HTTPResponse:
    return await file(STATIC_DIR / "ui" / "redoc.html")


@bp.get("/docs/redoc")
@openapi.exclude()
async def redoc_old_address(request: Request) -> HTTPResponse:
    return redirect("/redoc", status=301)
