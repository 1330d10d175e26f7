"""Writes a new Aerich migration into both histories (`python -m service makemigrations NAME`).

Aerich diffs the models against the last migration's stored model state and writes SQL for the
dialect it is configured with. It runs offline (no database needed), once per dialect, each in
its own process because Aerich keeps its state in class attributes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import get_args

from service.db import APP_LABEL, MIGRATIONS_ROOT, Dialect, tortoise_config

# Placeholders: offline generation needs each dialect's configuration, never a connection.
_OFFLINE_URLS = {
    "sqlite": f"sqlite:///{Path(tempfile.gettempdir()) / 'aerich-offline.db'}",
    "postgres": "postgres://offline@127.0.0.1:5432/offline",
}


async def pending_migration(dialect: Dialect, name: str, write: bool) -> str:
    """The file name of the migration `name` for `dialect` ("" when models are unchanged).

    With write=False nothing stays on disk (a check that the history matches the models)."""
    from aerich import Command

    command = Command(
        tortoise_config=tortoise_config(_OFFLINE_URLS[dialect]),
        app=APP_LABEL,
        location=str(MIGRATIONS_ROOT / dialect),
    )
    await command.init(offline=True)
    try:
        created = await command.migrate(name, no_input=True, offline=True)
    finally:
        await command.aclose()
    if created and not write:
        (MIGRATIONS_ROOT / dialect / APP_LABEL / created).unlink()
    return created or ""


def make_migrations(name: str, write: bool = True) -> dict[str, str]:
    """Runs pending_migration for every dialect, each in a fresh process."""
    created = {}
    for dialect in get_args(Dialect):
        result = subprocess.run(
            [sys.executable, "-m", "service", "makemigrations", name, "--dialect", dialect]
            + ([] if write else ["--check"]),
            capture_output=True,
            text=True,
            check=True,
        )
        created[dialect] = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if write:
        _same_version_name(created)
    return created


def _same_version_name(created: dict[str, str]) -> None:
    """Gives the new files of all dialects the first one's name (Aerich stamps each with the
    second it ran), so the two histories read as one."""
    names = [version for version in created.values() if version]
    for dialect, version in created.items():
        if version and version != names[0]:
            folder = MIGRATIONS_ROOT / dialect / APP_LABEL
            (folder / version).rename(folder / names[0])
            created[dialect] = names[0]
