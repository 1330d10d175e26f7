"""Settings parsing and the production refusals of SPEC §1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest
from pydantic import ValidationError

from service.config import Settings
from service.db import connection_config, dialect_of, sqlite_path
from tests.conftest import repo_root
from tests.live import free_port

SAFE_PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql://app:pw@db.internal:5432/game",
    "JWT_SECRET": "j" * 32 + "w" * 32,
    "AF_SECRET": "appsflyer-real-secret",
    "ADMIN_TOKEN": "a" * 20 + "t" * 20,
    "ALLOWED_ORIGINS": "https://game.example",
    "SERVER_KEY": "s" * 20 + "k" * 20,
    "AUTH_ALLOW_BARE_LOGIN": "false",
    "ECONOMY_FILE": str(repo_root() / "economy.example.toml"),
}


def test_defaults_match_the_brief():
    settings = Settings(_env_file=None)
    assert settings.DATABASE_URL == "sqlite:///data/app.db"
    assert settings.JWT_TTL_MIN == 120
    assert settings.IDEMPOTENCY_TTL_HOURS == 24
    assert settings.DB_POOL_MAX == 20
    assert settings.web_workers == 1
    assert settings.production_problems() == []


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/app.db", "data/app.db"),
        ("sqlite://data/x.db", "data/x.db"),
        ("sqlite:////tmp/abs.db", "/tmp/abs.db"),
    ],
)
def test_sqlite_urls(url, path):
    assert dialect_of(url) == "sqlite" and sqlite_path(url) == path


def test_postgres_url_forms_and_pool_size():
    for scheme in ("postgres", "postgresql"):
        creds = connection_config(f"{scheme}://u:p%40ss@h:6543/db", pool_max=7)["credentials"]
        assert (creds["host"], creds["port"], creds["user"], creds["password"]) == ("h", 6543, "u", "p@ss")
        assert (creds["database"], creds["maxsize"]) == ("db", 7)


def test_safe_production_settings_pass():
    assert Settings(_env_file=None, **SAFE_PRODUCTION).production_problems() == []


@pytest.mark.parametrize(
    ("override", "named_setting"),
    [
        ({"JWT_SECRET": "test_secret"}, "JWT_SECRET"),
        ({"JWT_SECRET": "short-but-custom"}, "JWT_SECRET"),
        ({"AF_SECRET": "appsflyer_secret_key"}, "AF_SECRET"),
        ({"AF_SECRET": ""}, "AF_SECRET"),
        ({"ADMIN_TOKEN": ""}, "ADMIN_TOKEN"),
        ({"ADMIN_TOKEN": "too-short"}, "ADMIN_TOKEN"),
        ({"ALLOWED_ORIGINS": "https://game.example,*"}, "ALLOWED_ORIGINS"),
        ({"DATABASE_URL": "sqlite:///data/app.db"}, "DATABASE_URL"),
        # Issue 9: weak secrets, the SQLite check's case, and the identity/economy settings.
        ({"JWT_SECRET": " " * 32}, "JWT_SECRET"),
        ({"JWT_SECRET": "x" * 64}, "JWT_SECRET"),
        ({"AF_SECRET": "   "}, "AF_SECRET"),
        ({"ADMIN_TOKEN": "a" * 40}, "ADMIN_TOKEN"),
        ({"DATABASE_URL": "SQLITE:///data/app.db"}, "DATABASE_URL"),
        ({"DATABASE_URL": " Sqlite:///data/app.db"}, "DATABASE_URL"),
        ({"SERVER_KEY": ""}, "SERVER_KEY"),
        ({"SERVER_KEY": "too-short"}, "SERVER_KEY"),
        ({"SERVER_KEY": "k" * 40}, "SERVER_KEY"),
        ({"AUTH_ALLOW_BARE_LOGIN": "true"}, "AUTH_ALLOW_BARE_LOGIN"),
        ({"ECONOMY_FILE": ""}, "ECONOMY_FILE"),
    ],
)
def test_production_refuses_unsafe_setting(override, named_setting):
    problems = Settings(_env_file=None, **{**SAFE_PRODUCTION, **override}).production_problems()
    assert len(problems) == 1 and problems[0].startswith(named_setting)


def test_serve_exits_non_zero_naming_the_setting(tmp_path):
    env = {**os.environ, **SAFE_PRODUCTION, "JWT_SECRET": "test_secret"}
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("JWT_TTL_MIN=5\nALLOWED_ORIGINS=https://a.example, https://b.example\n")
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_TTL_MIN", "ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.JWT_TTL_MIN == 5
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]


def test_repo_ships_an_env_example_that_loads(monkeypatch):
    path = repo_root() / ".env.example"
    example = path.read_text()
    for name in ("DATABASE_URL", "JWT_SECRET", "AF_SECRET", "ADMIN_TOKEN", "IDEMPOTENCY_TTL_HOURS"):
        assert f"{name}=" in example
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=path)
    assert settings.DATABASE_URL == "sqlite:///data/app.db" and settings.WEB_WORKERS is None


def test_empty_optional_values_mean_unset():
    settings = Settings(_env_file=None, WEB_WORKERS="", ADMIN_TOKEN="", REDIS_URL="")
    assert (settings.WEB_WORKERS, settings.ADMIN_TOKEN, settings.REDIS_URL) == (None, None, None)


@pytest.mark.parametrize("spelling", ["prod", "Prod", "live", "dev", "staging", ""])
def test_unknown_environment_refuses_to_start(spelling):
    with pytest.raises(ValidationError, match="ENVIRONMENT"):
        Settings(_env_file=None, ENVIRONMENT=spelling)


@pytest.mark.parametrize("spelling", ["Production", "production ", " PRODUCTION"])
def test_production_spelt_any_case_is_production(spelling):
    settings = Settings(_env_file=None, ENVIRONMENT=spelling)
    assert settings.is_production and settings.production_problems()
    assert (
        Settings(_env_file=None, **{**SAFE_PRODUCTION, "ENVIRONMENT": spelling}).production_problems() == []
    )


def test_bare_login_defaults_follow_the_environment():
    assert Settings(_env_file=None, ENVIRONMENT="development").bare_login_allowed
    assert Settings(_env_file=None, ENVIRONMENT="test").bare_login_allowed
    assert not Settings(_env_file=None, ENVIRONMENT="production").bare_login_allowed


def test_max_balance_cannot_be_set_past_what_a_64_bit_column_holds():
    with pytest.raises(ValidationError, match="MAX_BALANCE"):
        Settings(_env_file=None, MAX_BALANCE=2**63 - 1)


@pytest.mark.parametrize("spelling", ["prod", "production "])
def test_serve_refuses_a_misspelt_environment_but_not_a_padded_one(tmp_path, spelling):
    env = {**os.environ, **SAFE_PRODUCTION, "ENVIRONMENT": spelling, "JWT_SECRET": "test_secret"}
    # Its own process group, killed whole at the end: a server that wrongly starts (and forks
    # workers) must not outlive the test.
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        stderr = "still running: it did not refuse to start"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    result = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    assert result.returncode != 0
    # `prod` is refused as unknown; `production ` is production and refuses the weak secret.
    assert ("ENVIRONMENT" if spelling == "prod" else "JWT_SECRET") in result.stderr
    assert "Refusing to start" in result.stderr and "Traceback" not in result.stderr
