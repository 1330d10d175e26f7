"""Turns request bodies and query strings into models; failures become 400/422 envelopes.

sanic-ext's own validation answers 400, but the contract wants 422 naming the field, so requests
are validated here with the Pydantic models of service.http.schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request

from service.errors import MalformedJson, ValidationFailed
from service.json_depth import MAX_JSON_DEPTH, exceeds_depth

ModelT = TypeVar("ModelT", bound=BaseModel)


class InvalidMeta(ValidationFailed):
    code = "invalid_meta"


def _field_name(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error["loc"]]
    if not location:
        return str((error.get("ctx") or {}).get("field", "body"))
    return ".".join(location)


def validation_failure(exc: ValidationError) -> ValidationFailed:
    errors = exc.errors(include_url=False, include_input=False)
    details = [{"field": _field_name(e), "problem": e["msg"]} for e in errors]
    if any(e["type"] == "invalid_meta" for e in errors):
        return InvalidMeta("meta must be a JSON document", details)
    names = ", ".join(dict.fromkeys(d["field"] for d in details))
    return ValidationFailed(f"Invalid request: {names}", details)


class TooDeep(ValidationFailed):
    code = "json_too_deep"


def too_deep(field: str) -> TooDeep:
    problem = f"must not nest deeper than {MAX_JSON_DEPTH} levels"
    return TooDeep(f"{field} {problem}", [{"field": field, "problem": problem}])


def parse_body(model: type[ModelT], request: Request) -> ModelT:
    if exceeds_depth(request.body or b""):
        raise too_deep("body")
    try:
        return model.model_validate_json(request.body or b"")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise MalformedJson("The request body is not valid JSON") from None
        raise validation_failure(exc) from None


def parse_query(model: type[ModelT], request: Request) -> ModelT:
    # A repeated parameter counts once (the first), as most frameworks read it.
    values = {name: request.args.get(name) for name in request.args}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_failure(exc) from None
