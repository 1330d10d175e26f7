"""Executables that `make test` installs (Debian's chromium, npm packages in tools/npm): a test
that needs one skips when it is missing, except under CI=true, where that is a failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NEWMAN = REPO_ROOT / "tools" / "npm" / "node_modules" / ".bin" / "newman"


def required(path: str | None, message: str) -> str:
    if path and Path(path).exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def newman() -> str:
    return required(str(NEWMAN), "newman missing (make test runs npm ci in tools/npm)")


def chromium() -> str:
    return required(shutil.which("chromium"), "chromium missing (make test installs Debian's chromium)")
