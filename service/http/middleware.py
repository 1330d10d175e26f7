"""Request id (SPEC §0 echo rule) and the security headers every response carries."""

from __future__ import annotations

import re
import uuid

from sanic import Request
from sanic.response import BaseHTTPResponse

from service.logs import request_id_var
from service.sanic_types import App

# A caller's X-Request-ID is echoed only when it is safe to put in logs and headers.
_CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
}
_HSTS = "max-age=63072000; includeSubDomains"


def request_id_of(request: Request | None) -> str:
    """The request's id, assigned on first use (errors may be raised before middleware runs)."""
    if request is None:
        return request_id_var.get() if request_id_var.get() != "-" else str(uuid.uuid4())
    request_id = getattr(request.ctx, "request_id", None)
    if request_id is None:
        offered = request.headers.get("x-request-id")
        request_id = offered if offered and _CALLER_REQUEST_ID.fullmatch(offered) else str(uuid.uuid4())
        request.ctx.request_id = request_id
        request_id_var.set(request_id)
    return request_id


def fixed_headers(production: bool) -> dict[str, str]:
    """The headers every response carries besides its request id (decided once per app)."""
    return {**_SECURITY_HEADERS, "Strict-Transport-Security": _HSTS} if production else _SECURITY_HEADERS


def add_standard_headers(request: Request, response: BaseHTTPResponse) -> None:
    headers = response.headers
    headers["X-Request-ID"] = request_id_of(request)
    headers.update(request.app.ctx.fixed_headers)


async def assign_request_id(request: Request) -> None:
    request_id_var.set(request_id_of(request))


async def standard_headers(request: Request, response: BaseHTTPResponse) -> None:
    add_standard_headers(request, response)


def install_middleware(app: App) -> None:
    app.ctx.fixed_headers = fixed_headers(app.ctx.settings.is_production)
    app.register_middleware(assign_request_id, "request")
    app.register_middleware(standard_headers, "response")
