"""Transport side of idempotency: the header, the body fingerprint and replay responses."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Request
from sanic.response import HTTPResponse, json

from service.domain.idempotency import Outcome, fingerprint, parse_key

REPLAYED_HEADER = {"Idempotent-Replayed": "true"}


def idempotency_key(request: Request) -> str | None:
    return parse_key(request.headers.get("idempotency-key"))


def body_fingerprint(body: BaseModel) -> str:
    # The validated model, not the raw bytes: key order and whitespace do not change the request.
    return fingerprint(body.model_dump_json())


def outcome_response(outcome: Outcome) -> HTTPResponse:
    return json(outcome.body, status=outcome.status, headers=REPLAYED_HEADER if outcome.replayed else None)
