"""The SPEC §0 error envelope for every failure, including Sanic's own and unexpected ones."""

from __future__ import annotations

import logging
import re
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

from service.db_errors import is_database_unavailable
from service.domain.errors import DomainError
from service.http.middleware import add_standard_headers, request_id_of

log = logging.getLogger("service.http")

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")
# Sanic's exception classes by status, named the way the contract names codes.
_SANIC_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    417: "expectation_failed",
    429: "rate_limited",
    503: "service_unavailable",
}


DATABASE_RETRY_AFTER_SECONDS = "5"
CLIENT_CLOSED_REQUEST = 499


class MalformedJson(DomainError):
    status = 400
    code = "malformed_json"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


def error_body(
    request: Request | None, code: str, message: str, details: list[dict] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = details
    body["requestId"] = request_id_of(request)
    return body


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    details: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> HTTPResponse:
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    response = json(error_body(request, code, message, details), status=status, headers=all_headers)
    if request is not None:
        add_standard_headers(request, response)
    return response


def _sanic_code(exc: SanicException) -> str:
    status = exc.status_code
    return _SANIC_CODES.get(status) or _CAMEL_BOUNDARY.sub("_", type(exc).__name__).lower()


class JsonErrorHandler(ErrorHandler):
    """Renders every exception as the JSON envelope; unexpected ones are logged as bugs."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, DomainError):
            return error_response(
                request, exception.status, exception.code, exception.message, exception.details
            )
        if isinstance(exception, SanicException):
            status = exception.status_code
            if status >= 500:
                log.error("server error: %s", exception, exc_info=exception)
            message = str(exception) or "Request failed"
            headers = {k: str(v) for k, v in (getattr(exception, "headers", None) or {}).items()}
            return error_response(request, status, _sanic_code(exception), message, headers=headers)
        if isinstance(exception, RequestCancelled):
            # The client went away mid-request and nothing will be sent. nginx's 499 keeps it
            # out of the 5xx error rate in the metrics; it is not a server bug.
            return error_response(
                request, CLIENT_CLOSED_REQUEST, "client_closed_request", "The client disconnected"
            )
        if is_database_unavailable(exception):
            log.warning("database unavailable: %r", exception)
            return error_response(
                request, 503, "database_unavailable", "The database is unreachable; retry shortly",
                headers={"Retry-After": DATABASE_RETRY_AFTER_SECONDS},
            )
        log.error("unhandled exception", exc_info=exception)
        return error_response(request, 500, "internal_error", "An unexpected error occurred")


def install_error_handler(app: Sanic) -> None:
    app.error_handler = JsonErrorHandler()
