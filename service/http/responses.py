"""Response shaping shared by the routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.http.schemas import PageQuery


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with offset and microseconds, as the brief shows."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def paged(items_key: str, items: list[Any], total: int, query: PageQuery) -> dict[str, Any]:
    return {
        items_key: items,
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "hasMore": query.offset + len(items) < total,
    }
