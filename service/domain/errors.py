"""Domain failures. The transport maps each to an HTTP status and the SPEC §0 error envelope."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `code` is part of the API contract (snake_case)."""

    status = 400
    code = "bad_request"
    # Seconds the caller should wait before retrying (the transport's Retry-After), if any.
    retry_after_s: int | None = None

    def __init__(self, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"


class BalanceLimit(Conflict):
    code = "balance_limit"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
