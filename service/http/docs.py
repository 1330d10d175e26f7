"""OpenAPI annotations built from the Pydantic models, so the document cannot drift from the code.

Models are registered as components through Pydantic's own JSON schema (`Component`), not
sanic-ext's type-hint reading, which renders Literal and Optional fields loosely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, redirect
from sanic_ext import openapi
from sanic_ext.extensions.openapi.builders import SpecificationBuilder
from sanic_ext.extensions.openapi.definitions import Component, Parameter, Response
from sanic_ext.extensions.openapi.types import Schema

from service.http.schemas import ErrorResponse

OPENAPI_VERSION = "3.1.0"
Security = list[dict[str, list[str]]]
BEARER: Security = [{"bearer": []}]
OPTIONAL_BEARER_OR_ADMIN: Security = [{}, {"bearer": []}, {"adminToken": []}]
ADMIN_TOKEN: Security = [{"adminToken": []}]
SERVER_KEY: Security = [{"serverKey": []}]

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON",
    401: "Missing or invalid bearer token",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body, URL or headers over the size limit",
    422: "Validation failed (details name the field)",
    429: "Rate limited",
    503: "Database unreachable",
}


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
) -> Callable[[Any], Any]:
    """`security` lists alternatives (OpenAPI ORs them); `{}` among them means "or anonymous"."""
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
            description=_ERROR_DESCRIPTIONS[code],
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


@bp.get("/openapi.json")
@openapi.exclude()
async def openapi_document(request: Request) -> HTTPResponse:
    document = SpecificationBuilder().build(request.app).serialize()  # type: ignore[no-untyped-call]
    # The schemas are Pydantic's JSON Schema 2020-12 (e.g. `"type": "null"` alternatives),
    # which is the dialect of OpenAPI 3.1; sanic-ext labels every document 3.0.3.
    document["openapi"] = OPENAPI_VERSION
    return json(document)


@bp.get("/redoc")
@openapi.exclude()
async def redoc(request: Request) -> HTTPResponse:
    return redirect("/docs/redoc")
