"""The X-Admin-Token guard of admin-only operations (SPEC §2) and the X-Server-Key guard of
server grants (SPEC §3b)."""

from __future__ import annotations

import hmac
import logging

from service.config import Settings
from service.errors import Forbidden, Unauthorized

log = logging.getLogger("service.admin")
HEADER = "X-Admin-Token"
SERVER_KEY_HEADER = "X-Server-Key"


def _matches(expected: str | None, presented: str | None) -> bool:
    if not (expected and presented):
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected.encode())


def token_matches(settings: Settings, presented: str | None) -> bool:
    """Whether `presented` is the configured ADMIN_TOKEN (never true when none is configured)."""
    return _matches(settings.ADMIN_TOKEN, presented)


def check_server_key(settings: Settings, presented: str | None) -> None:
    """Pass, or raise 401 (no key sent) / 403 (wrong key, or server grants disabled: no SERVER_KEY)."""
    if not presented:
        raise Unauthorized(
            f"{SERVER_KEY_HEADER} header required", [{"field": SERVER_KEY_HEADER, "problem": "missing"}]
        )
    if not _matches(settings.SERVER_KEY, presented):
        raise Forbidden(
            f"{SERVER_KEY_HEADER} is not valid", [{"field": SERVER_KEY_HEADER, "problem": "does not match"}]
        )


def check_admin_token(settings: Settings, presented: str | None) -> None:
    """Pass, or raise 401 (no token sent) / 403 (wrong token, or admin access disabled).

    With no ADMIN_TOKEN configured, development stays open (with a warning in the log) and
    every other environment is closed; production refuses to start without one anyway.
    """
    expected = settings.ADMIN_TOKEN
    if not expected:
        if settings.ENVIRONMENT == "development":
            log.warning("ADMIN_TOKEN is not set: admin operations are open (development only)")
            return
        raise Forbidden("Admin operations are disabled: ADMIN_TOKEN is not set")
    if not presented:
        raise Unauthorized(f"{HEADER} header required", [{"field": HEADER, "problem": "missing"}])
    if not token_matches(settings, presented):
        raise Forbidden(f"{HEADER} is not valid", [{"field": HEADER, "problem": "does not match"}])
