"""The real `python -m service serve` refuses each unsafe production setting (SPEC §1).

Core's test_config checks every refusal on Settings and one through the CLI; here every refusal
goes through the CLI, plus the attribution rule: several workers need REDIS_URL in production.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import repo_root
from tests.live import free_port
from tests.service.test_config import SAFE_PRODUCTION

pytestmark = pytest.mark.slow


def serve(tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SAFE_PRODUCTION and k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(free_port()), *args],
        cwd=tmp_path,  # no .env of the repository is read
        env={**clean, "PYTHONPATH": str(repo_root()), **env},
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # a failing Sanic start SIGKILLs its whole process group
    )


@pytest.mark.parametrize(
    ("override", "named_setting"),
    [
        ({"JWT_SECRET": "test_secret"}, "JWT_SECRET"),
        ({"JWT_SECRET": "x" * 31}, "JWT_SECRET"),
        ({"AF_SECRET": "appsflyer_secret_key"}, "AF_SECRET"),
        ({"AF_SECRET": ""}, "AF_SECRET"),
        ({"ADMIN_TOKEN": ""}, "ADMIN_TOKEN"),
        ({"ADMIN_TOKEN": "a" * 31}, "ADMIN_TOKEN"),
        ({"ALLOWED_ORIGINS": "*"}, "ALLOWED_ORIGINS"),
        ({"ALLOWED_ORIGINS": "https://game.example, *"}, "ALLOWED_ORIGINS"),
        ({"DATABASE_URL": "sqlite:///data/app.db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "SQLITE:///data/app.db"}, "DATABASE_URL"),
        ({"JWT_SECRET": " " * 40}, "JWT_SECRET"),
        ({"SERVER_KEY": ""}, "SERVER_KEY"),
        ({"AUTH_ALLOW_BARE_LOGIN": "true"}, "AUTH_ALLOW_BARE_LOGIN"),
        ({"ECONOMY_FILE": ""}, "ECONOMY_FILE"),
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT"),
    ],
    ids=lambda value: (
        "-".join(f"{k}={v[:12]}" for k, v in value.items()) if isinstance(value, dict) else value
    ),
)
def test_serve_refuses_each_unsafe_setting(tmp_path, override, named_setting):
    result = serve(tmp_path, {**SAFE_PRODUCTION, "WEB_WORKERS": "1", **override})
    assert result.returncode != 0
    assert named_setting in result.stderr, result.stderr[-2000:]
    assert "Refusing to start" in result.stderr


def test_serve_refuses_several_workers_without_redis_in_production(tmp_path):
    result = serve(tmp_path, SAFE_PRODUCTION, "--workers", "2")
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr and "2 workers" in result.stderr, result.stderr[-2000:]
