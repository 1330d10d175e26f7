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
AIRFLOW_COMPONENTS = (
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker-1",
    "airflow-worker-2",
)
JOB_TYPES = {
    "airflow-scheduler": "SchedulerJob",
    "airflow-dag-processor": "DagProcessorJob",
    "airflow-triggerer": "TriggererJob",
}


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


def _check(service: dict) -> str:
    return " ".join(service["healthcheck"]["test"])


def test_each_airflow_component_checks_its_own_health(compose):
    checks = {name: _check(compose["services"][name]) for name in AIRFLOW_COMPONENTS}
    for name, job_type in JOB_TYPES.items():
        assert f"airflow jobs check --job-type {job_type} --local" in checks[name]
    assert "/api/v2/monitor/health" in checks["airflow-api-server"]
    for worker in ("airflow-worker-1", "airflow-worker-2"):
        assert "inspect ping" in checks[worker] and "celery@$${HOSTNAME}" in checks[worker]
        assert compose["services"][worker]["hostname"] == worker
    assert len(set(checks.values())) == len(checks) - 1  # the two workers share their (own-node) check
    assert "8000" not in " ".join(checks.values())


def test_airflow_runs_on_the_celery_executor_with_two_workers(compose):
    workers = [s for s in compose["services"].values() if s.get("command") == ["airflow", "celery", "worker"]]
    assert len(workers) == 2
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")


def test_every_service_built_here_runs_under_an_init(compose):
    built = {name: s for name, s in compose["services"].items() if "build" in s}
    assert built and all(s.get("init") is True for s in built.values())


def test_migrations_run_once_before_the_api_not_on_its_start(compose):
    services = compose["services"]
    assert services["migrate"]["command"] == ["python", "-m", "service", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "command" not in services["api"]
    assert services["api"]["build"]["target"] == "api"
    assert all(services[name]["build"]["target"] == "airflow" for name in AIRFLOW_COMPONENTS)


def test_prometheus_loads_the_alert_rules_and_grafana_its_dashboard(compose):
    prometheus = compose["services"]["prometheus"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in prometheus["volumes"]}
    config = yaml.safe_load((REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert mounts["./deploy/prometheus/alerts.yml"] in config["rule_files"]
    scrape = config["scrape_configs"][0]
    assert scrape["static_configs"][0]["targets"] == ["api:8000"]
    assert scrape["http_headers"]["X-Admin-Token"]["files"] == ["/run/secrets/admin_token"]
    assert "admin_token" in prometheus["secrets"]
    grafana = compose["services"]["grafana"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    provider = yaml.safe_load(
        (REPO_ROOT / "deploy/grafana/provisioning/dashboards/dashboards.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
