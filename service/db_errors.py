"""Which exceptions mean "the database is down or unreachable" (answered 503, never 500).

PostgreSQL stopping, restarting or vanishing surfaces as several unrelated exception types:
asyncpg's connection and operator-intervention errors, plain OSError (connection refused,
no route), TimeoutError (the pool's connect/command timeouts) and asyncpg's InterfaceError
on a connection that was closed under us. The generic ones only count when they were raised
inside the database driver, so a failing file write elsewhere stays a 500.
"""

from __future__ import annotations

from types import TracebackType

import asyncpg
from tortoise.exceptions import DBConnectionError

# Always a database availability problem, wherever raised.
_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # connection lost mid-query, failure to connect
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, crash, starting up, query cancelled
    asyncpg.exceptions.TooManyConnectionsError,
    DBConnectionError,
)
# A database problem only when raised from inside the driver.
_GENERIC_TYPES: tuple[type[BaseException], ...] = (OSError, TimeoutError, asyncpg.InterfaceError)
_DRIVER_MODULES = ("asyncpg", "tortoise.backends")


def _raised_in_driver(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def is_database_unavailable(exc: BaseException) -> bool:
    """True for `exc` or anything it was raised from/during that says the database is out."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGE_TYPES):
            return True
        if isinstance(current, _GENERIC_TYPES) and _raised_in_driver(current.__traceback__):
            return True
        current = current.__cause__ or current.__context__
    return False
