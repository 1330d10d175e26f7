"""Domain failures: a contract `code` (snake_case), a message and optional field details.

They name what went wrong, never how a transport reports it: service.http.errors maps each
class to its HTTP status in one table.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule said no."""

    code = "bad_request"

    def __init__(
        self, message: str, details: list[dict[str, Any]] | None = None, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # Seconds after which a retry may succeed, when the rule knows.
        self.retry_after_s = retry_after_s


class MalformedJson(DomainError):
    code = "malformed_json"


class PayloadTooLarge(DomainError):
    """For bodies over a route's own limit, tighter than the server's (e.g. postbacks, 64 KiB)."""

    code = "payload_too_large"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class ValidationFailed(DomainError):
    code = "validation_error"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"


class BalanceLimit(Conflict):
    code = "balance_limit"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details, retry_after_s)


class Unavailable(DomainError):
    """Something we depend on (not the database, which the transport detects itself) failed us."""

    code = "service_unavailable"
