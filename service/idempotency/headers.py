"""Transport side of idempotency: the header, the body fingerprint and replay responses."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Request

from service.idempotency.store import fingerprint, parse_key

REPLAYED_HEADER = {"Idempotent-Replayed": "true"}


def idempotency_key(request: Request) -> str | None:
    return parse_key(request.headers.get("idempotency-key"))


def body_fingerprint(body: BaseModel) -> str:
    # The validated model, not the raw bytes: key order and whitespace do not change the request.
    return fingerprint(body.model_dump_json())


def replay_headers(replayed: bool) -> dict[str, str] | None:
    return REPLAYED_HEADER if replayed else None
