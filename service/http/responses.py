"""Response shaping shared by the routes: every body is its documented pydantic model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sanic.response import HTTPResponse

from service.http.schemas import PageQuery, iso

__all__ = ["iso", "page_fields", "respond"]


def respond(body: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(
        body.model_dump_json(), status=status, headers=headers, content_type="application/json"
    )


def page_fields(item_count: int, total: int, query: PageQuery) -> dict[str, Any]:
    """The Page fields of a list response."""
    return {
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "hasMore": query.offset + item_count < total,
    }
