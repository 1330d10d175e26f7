"""A throw-away PostgreSQL database for one ops benchmark run (bench/pg_database.py does the
work), migrated by the service's own `python -m service migrate`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from bench.pg_database import (
    REPO_ROOT,
    create_database,
    drop_database,
    migrate_with_service,
    new_database_name,
)

__all__ = ["REPO_ROOT", "scratch_database"]


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """Yields the URL of a fresh, migrated database; drops it afterwards."""
    name = new_database_name(label)
    url = create_database(name)
    try:
        migrate_with_service({**os.environ, "DATABASE_URL": url})
        yield url
    finally:
        drop_database(name)
