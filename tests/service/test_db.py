"""service/db.py: how a DATABASE_URL becomes Tortoise's connection settings."""

from __future__ import annotations

from service.db import DEFAULT_CONNECT_TIMEOUT_SECONDS, connection_config, keep_session_state


def test_postgres_query_options_arrive_typed():
    creds = connection_config(
        "postgresql://u:p%40ss@db.example:6543/game"
        "?statement_cache_size=0&max_cached_statement_lifetime=30&application_name=api",
        pool_max=7,
    )["credentials"]
    # asyncpg rejects the string "0" for statement_cache_size (needed behind PgBouncer).
    assert creds["statement_cache_size"] == 0 and isinstance(creds["statement_cache_size"], int)
    assert creds["max_cached_statement_lifetime"] == 30
    assert creds["application_name"] == "api"
    assert (creds["host"], creds["port"], creds["user"], creds["password"]) == (
        "db.example",
        6543,
        "u",
        "p@ss",
    )
    assert (creds["database"], creds["minsize"], creds["maxsize"]) == ("game", 1, 7)


def test_postgres_url_without_parts_keeps_our_defaults_and_outage_bounds():
    config = connection_config("postgres://", pool_max=3, command_timeout=4.0)
    creds = config["credentials"]
    assert config["engine"] == "tortoise.backends.asyncpg"
    assert (creds["host"], creds["port"], creds["user"], creds["password"], creds["database"]) == (
        "127.0.0.1",
        5432,
        "postgres",
        "",
        "postgres",
    )
    assert (creds["timeout"], creds["command_timeout"]) == (DEFAULT_CONNECT_TIMEOUT_SECONDS, 4.0)
    assert creds["reset"] is keep_session_state


def test_url_options_override_the_pool_size_and_user_is_unquoted():
    creds = connection_config("postgresql://app%2Bro@h/db?maxsize=2", pool_max=9)["credentials"]
    assert int(creds["maxsize"]) == 2  # Tortoise's client applies int() to it
    assert creds["user"] == "app+ro"


def test_sqlite_keeps_its_path_convention(tmp_path, monkeypatch):
    creds = connection_config(f"sqlite:///{tmp_path}/x/app.db")["credentials"]
    assert creds["file_path"] == f"{tmp_path}/x/app.db" and (tmp_path / "x").is_dir()
    monkeypatch.chdir(tmp_path)
    creds = connection_config("sqlite://rel/app.db")["credentials"]
    assert creds["file_path"] == "rel/app.db" and (tmp_path / "rel").is_dir()
