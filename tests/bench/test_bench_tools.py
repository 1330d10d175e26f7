"""The benchmark tooling parses and builds; no figures are asserted (benchmarks only print)."""

from pathlib import Path

import pytest

from bench import pg_database, profiling
from bench.api_load import parse_args, ratios, scenarios
from bench.wrk_load import LUA_SCRIPT, Measurement


def test_yardstick_app_builds_with_its_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/unused")
    monkeypatch.setenv("JWT_SECRET", "x" * 48)
    from bench.yardstick_app import create_app

    app = create_app()

    routes = {route.path.strip("/") for route in app.router.routes}
    assert {"earn", "balance", "event", "health"} <= routes


def test_database_url_is_pointed_at_another_database() -> None:
    url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

    assert pg_database.with_database(url, "postgres") == (
        "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    )


def test_token_table_is_a_lua_array_of_one_jwt_per_user(tmp_path: Path) -> None:
    path = tmp_path / "tokens.lua"

    pg_database.write_token_table(path, "s" * 48, 3)

    lines = path.read_text().splitlines()
    assert lines[0] == "return {" and lines[-1] == "}"
    assert len(lines) == 5 and all(line.count(".") == 2 for line in lines[1:4])


def test_scenarios_cover_each_connection_level_and_one_hot_row() -> None:
    args = parse_args(["--connections", "64,256"])

    planned = scenarios(args.users, args.connections)

    assert [(s.name, s.connections) for s in planned] == [
        ("earn", 64),
        ("earn", 256),
        ("mix", 64),
        ("mix", 256),
        ("hot-row", 64),
        ("balance", 64),
    ]
    mix = planned[2]
    assert (mix.earn, mix.balance, mix.event, mix.users) == (0.6, 0.3, 0.1, 10_000)
    assert [s.users for s in planned if s.name == "hot-row"] == [1]
    assert LUA_SCRIPT.exists()


def test_profile_summary_splits_busy_samples_by_package(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        'process 1:"python";main (app.py:1);query (site-packages/asyncpg/connection.py:9) 3\n'
        'process 1:"python";main (app.py:1);encode (site-packages/jwt/api_jwt.py:4) 1\n'
    )

    summary = profiling.summarise(raw)

    assert "4 busy samples" in summary
    assert "75.0  asyncpg" in summary and "25.0  jwt" in summary


def _measured(app: str, requests_per_s: float, error_rate: float, cpu: float = 1) -> Measurement:
    return Measurement(
        scenario="earn",
        app=app,
        connections=64,
        users=10,
        duration_s=1,
        requests=1,
        requests_per_s=requests_per_s,
        p50_ms=1,
        p95_ms=1,
        p99_ms=1,
        max_ms=1,
        errors=0,
        error_rate=error_rate,
        server_cpu_us_per_request=cpu,
        postgres_cpu_us_per_request=cpu,
        wrk_cpu_us_per_request=0,
        load_before=(0, 0, 0),
        load_after=(0, 0, 0),
    )


def test_ratio_is_service_over_yardstick_and_withheld_when_requests_fail() -> None:
    clean = ratios([_measured("service", 900, 0.0, cpu=400), _measured("yardstick", 1000, 0.0, cpu=100)])
    failing = ratios([_measured("service", 4000, 1.0), _measured("yardstick", 1000, 0.0)])

    assert clean == {"earn@64": {"throughput": 0.9, "cpu_cost": 0.25}}
    assert failing == {"earn@64": None}
