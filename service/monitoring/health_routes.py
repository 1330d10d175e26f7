"""GET /health."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from service import __version__
from service.http.docs import documented
from service.http.responses import respond
from service.http.schemas import DatabaseHealth, HealthChecks, HealthResponse
from service.monitoring.health import database_health

bp = Blueprint("health")


@bp.get("/health")
@documented("Service and database health", tag="health", ok=HealthResponse, errors=(503,))
async def health(request: Request) -> HTTPResponse:
    db = await database_health()
    body = HealthResponse(
        status="healthy" if db.connected else "unhealthy",
        version=__version__,
        environment=request.app.ctx.settings.ENVIRONMENT,
        timestamp=datetime.now(UTC),
        database=DatabaseHealth(
            status="connected" if db.connected else "unreachable",
            type=request.app.ctx.dialect,
            tables="accessible" if db.connected else "inaccessible",
        ),
        checks=HealthChecks(users=db.users, events=db.events),
    )
    return respond(body, status=200 if db.connected else 503)
