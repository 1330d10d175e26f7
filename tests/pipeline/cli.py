"""`python -m revenue run` as the tests drive it: a fresh process on given folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def cli_command(data_dir: str | Path, reports_dir: str | Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "revenue",
        "run",
        "--data-dir",
        str(data_dir),
        "--reports-dir",
        str(reports_dir),
        *extra,
    ]


def run_cli(
    data_dir: str | Path, reports_dir: str | Path, *extra: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(data_dir, reports_dir, *extra), capture_output=True, text=True, timeout=timeout
    )
