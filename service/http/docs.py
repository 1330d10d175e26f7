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

from service.http.schemas import ErrorResponse

BEARER = {"bearer": []}
ADMIN_TOKEN = {"adminToken": []}

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON",
    401: "Missing or invalid bearer token",
    403: "Forbidden",
    409: "Conflict",
    413: "Body over the size limit",
    422: "Validation failed (details name the field)",
    429: "Rate limited",
    503: "Database unreachable",
}


def query_parameters(model: type[BaseModel]) -> list[Parameter]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        Parameter(name, schema=prop, location="query", required=name in required)
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
    security: dict[str, list] | None = None,
) -> Callable[[Any], Any]:
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
        for code in errors
    ]
    kwargs: dict[str, Any] = {"summary": summary, "tag": tag, "response": responses}
    if body is not None:
        kwargs["body"] = {"application/json": Component(body)}
    if query is not None:
        kwargs["parameter"] = query_parameters(query)
    if security is not None:
        kwargs["secured"] = security
    return openapi.definition(**kwargs)


bp = Blueprint("api_docs")


@bp.get("/openapi.json")
@openapi.exclude()
async def openapi_document(request: Request) -> HTTPResponse:
    return json(SpecificationBuilder().build(request.app).serialize())


@bp.get("/redoc")
@openapi.exclude()
async def redoc(request: Request) -> HTTPResponse:
    return redirect("/docs/redoc")
