"""The SPEC §0 error envelope for every failure, including Sanic's own and unexpected ones."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from sanic import Request
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

from service import errors as domain
from service.db import is_database_unavailable
from service.http.middleware import add_standard_headers, request_id_of

log = logging.getLogger("service.http")
CLIENT_CLOSED_REQUEST = 499

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


# The one place a domain failure becomes an HTTP status: the nearest class in the error's MRO
# wins, so a new rule's error (e.g. InsufficientFunds, a Conflict) needs no entry of its own.
STATUS_OF_ERROR: dict[type[domain.DomainError], int] = {
    domain.DomainError: 400,
    domain.MalformedJson: 400,
    domain.Unauthorized: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.PayloadTooLarge: 413,
    domain.ValidationFailed: 422,
    domain.RateLimited: 429,
    domain.Unavailable: 503,
}
_resolved: dict[type[domain.DomainError], int] = {}


def status_of(error: domain.DomainError) -> int:
    kind = type(error)
    status = _resolved.get(kind)
    if status is None:
        status = next(STATUS_OF_ERROR[c] for c in kind.__mro__ if c in STATUS_OF_ERROR)
        _resolved[kind] = status
    return status


def error_body(
    request: Request | None, code: str, message: str, details: list[dict[str, Any]] | None = None
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
    details: list[dict[str, Any]] | None = None,
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
        response = self._render(request, exception)
        if response.status < 500 and request is not None:
            log.info("%s %s -> %d", request.method, request.path, response.status)
        return response

    def _render(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, domain.DomainError):
            retry_after = exception.retry_after_s
            return error_response(
                request,
                status_of(exception),
                exception.code,
                exception.message,
                exception.details,
                headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
            )
        if isinstance(exception, SanicException):
            status = exception.status_code
            if status >= 500:
                log.error("server error: %s", exception, exc_info=exception)
            message = str(exception) or "Request failed"
            headers = {k: str(v) for k, v in (getattr(exception, "headers", None) or {}).items()}
            return error_response(request, status, _sanic_code(exception), message, headers=headers)
        if isinstance(exception, asyncio.CancelledError):
            # The client went away (Sanic's RequestCancelled); nobody will read this response.
            # 499 (nginx's "client closed request"), not 503: in the metrics a client giving
            # up must not count towards the 5xx error rate that pages people.
            log.info("request cancelled by the client")
            return error_response(
                request, CLIENT_CLOSED_REQUEST, "request_cancelled", "The request was cancelled"
            )
        if is_database_unavailable(exception):
            log.warning("database unavailable: %r", exception)
            return error_response(
                request,
                503,
                "database_unavailable",
                "The database is unavailable; retry shortly",
                headers={"Retry-After": "1"},
            )
        log.error("unhandled exception", exc_info=exception)
        return error_response(request, 500, "internal_error", "An unexpected error occurred")
