"""docker-compose.yml against the Compose Specification's own JSON schema (vendored by
check-jsonschema), plus the wiring the stack depends on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
AIRFLOW_COMPONENTS = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_file_is_valid_against_the_compose_spec_schema():
    result = validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_what_compose_would_reject(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace('command: ["airflow", "scheduler"]', "comand: scheduler")
    )
    result = validate(broken)
    assert result.returncode != 0
    assert "comand" in result.stdout


def test_stack_has_postgres_the_api_and_every_airflow_component(compose):
    assert {"postgres", "api", "airflow-init", *AIRFLOW_COMPONENTS} <= set(compose["services"])


def test_api_and_airflow_share_data_and_reports(compose):
    for name in ("api", *AIRFLOW_COMPONENTS):
        volumes = compose["services"][name]["volumes"]
        assert "./data:/app/data" in volumes and "./reports:/app/reports" in volumes, name


def test_airflow_metadata_lives_in_its_own_database_on_the_same_server(compose):
    postgres = compose["services"]["postgres"]
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert (REPO_ROOT / "docker" / "postgres-init" / "10-airflow-db.sh").stat().st_mode & 0o111
    for name in AIRFLOW_COMPONENTS:
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert env["DATABASE_URL"].endswith("@postgres:5432/app")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server:8080/execution/"


def test_api_triggers_runs_through_the_airflow_api_server(compose):
    env = compose["services"]["api"]["environment"]
    assert env["AIRFLOW_API_URL"] == "http://airflow-api-server:8080"
