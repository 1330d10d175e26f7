"""GET /metrics and the request/connection hooks that feed service.monitoring.metrics.

Route labels are Sanic's route pattern (`/pipeline-runs/<run_id>`), never the raw path, and
unknown methods are folded into OTHER, so a client cannot grow the label set.
"""

from __future__ import annotations

import time
from typing import Any

from sanic import Blueprint, Request
from sanic.models.server_types import ConnInfo
from sanic.response import BaseHTTPResponse, HTTPResponse, raw

from service.http.docs import ADMIN_TOKEN, documented
from service.identity import admin
from service.monitoring import metrics
from service.sanic_types import App

bp = Blueprint("metrics")

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@bp.get("/metrics")
@documented(
    "Prometheus metrics (text exposition format), summed over all workers",
    tag="operations",
    ok=None,
    errors=(401, 403),
    security=ADMIN_TOKEN,
)
async def metrics_endpoint(request: Request) -> HTTPResponse:
    admin.check_admin_token(request.app.ctx.settings, request.headers.get(admin.HEADER))
    body, content_type = metrics.render_latest()
    return raw(body, content_type=content_type, headers={"Cache-Control": "no-store"})


# The in-flight mark lives on the connection (HTTP/1.1 carries one request at a time), so that
# a request the client cut off, which never reaches response middleware, is still ended when
# its connection closes. ASGI (tests) has no connection object: the request carries it then.
def _in_flight_holder(request: Request) -> Any:
    return request.conn_info.ctx if request.conn_info is not None else request.ctx


async def _start_request_timer(request: Request) -> None:
    request.ctx.metrics_started = time.perf_counter()
    _in_flight_holder(request).metrics_in_flight = True
    metrics.request_started()


def _finish_in_flight(holder: object) -> None:
    if getattr(holder, "metrics_in_flight", False):
        holder.metrics_in_flight = False  # type: ignore[attr-defined]
        metrics.request_finished()


async def _record_response(request: Request, response: BaseHTTPResponse) -> None:
    started = getattr(request.ctx, "metrics_started", None)
    if started is None:  # failed before request middleware ran
        return
    _finish_in_flight(_in_flight_holder(request))
    method = request.method if request.method in _KNOWN_METHODS else "OTHER"
    metrics.record_request(method, request.uri_template, response.status, time.perf_counter() - started)


async def _connection_opened(conn_info: ConnInfo) -> None:
    metrics.connection_opened()


async def _connection_closed(conn_info: ConnInfo) -> None:
    _finish_in_flight(conn_info.ctx)
    metrics.connection_closed()


def install_metrics(app: App) -> None:
    app.blueprint(bp)
    # Sanic runs the highest priority first among request middleware and last among
    # response middleware, so the latency covers the other middleware too.
    app.register_middleware(_start_request_timer, "request", priority=1000)
    app.register_middleware(_record_response, "response", priority=1000)
    app.signal("http.lifecycle.begin")(_connection_opened)
    app.signal("http.lifecycle.complete")(_connection_closed)
