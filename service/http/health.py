"""GET /health."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from service import __version__
from service.domain.health import database_health
from service.http.docs import documented
from service.http.schemas import HealthResponse

bp = Blueprint("health")


@bp.get("/health")
@documented("Service and database health", tag="health", ok=HealthResponse, errors=(503,))
async def health(request: Request) -> HTTPResponse:
    db = await database_health()
    body = {
        "status": "healthy" if db.connected else "unhealthy",
        "version": __version__,
        "environment": request.app.ctx.settings.ENVIRONMENT,
        "timestamp": datetime.now(UTC).isoformat(),
        "database": {
            "status": "connected" if db.connected else "unreachable",
            "type": request.app.ctx.dialect,
            "tables": "accessible" if db.connected else "inaccessible",
        },
        "checks": {"users": db.users, "events": db.events},
    }
    return json(body, status=200 if db.connected else 503)
