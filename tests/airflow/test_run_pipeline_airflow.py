"""POST /run-pipeline and GET /pipeline-runs/{runId} in Airflow mode, against a real Airflow.

A module fixture starts `airflow standalone` (api-server, scheduler, dag-processor, triggerer)
on free loopback ports with its own AIRFLOW_HOME, the simple auth manager and one user; the
service gets AIRFLOW_API_URL/AIRFLOW_USERNAME/AIRFLOW_PASSWORD and talks to it over HTTP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from service.app import create_app
from service.infrastructure.airflow_client import AirflowClient
from tests.airflow.harness import (
    REPORT_DATE,
    AirflowServer,
    break_sessions_line_5,
    pipeline_settings,
    seed_airflow_home,
    start_airflow_standalone,
)
from tests.conftest import TEST_ADMIN_TOKEN, asgi_client
from tests.live import free_port

pytestmark = pytest.mark.slow

ADMIN = {"X-Admin-Token": TEST_ADMIN_TOKEN}
USERNAME, PASSWORD = "pipeline-admin", "a-test-password"
RUN_TIMEOUT_SECONDS = 240


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory, synth_inputs, airflow_metadata_template, migrated_databases):
    """Settings shared by the Airflow server's tasks and the service (same data, reports, database)."""
    return pipeline_settings(
        tmp_path_factory.mktemp("airflow-mode"),
        migrated_databases["sqlite"],
        synth_inputs,
        airflow_metadata_template,
    )


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory, airflow_metadata_template, run_folders):
    home = seed_airflow_home(tmp_path_factory.mktemp("airflow-standalone"), airflow_metadata_template)
    server = start_airflow_standalone(
        home,
        USERNAME,
        PASSWORD,
        DATA_DIR=run_folders.DATA_DIR,
        REPORTS_DIR=run_folders.REPORTS_DIR,
        DATABASE_URL=run_folders.DATABASE_URL,
    )
    yield server
    server.stop()


def service_app(run_folders, server_url: str, password: str = PASSWORD) -> Sanic:
    settings = run_folders.model_copy(
        update={
            "AIRFLOW_API_URL": server_url,
            "AIRFLOW_USERNAME": USERNAME,
            "AIRFLOW_PASSWORD": password,
        }
    )
    Sanic.test_mode = True
    return create_app(settings, name=f"airflow_mode_{abs(hash((server_url, password)))}")


async def test_a_run_is_created_in_airflow_and_followed_to_success(
    airflow_server: AirflowServer, run_folders
):
    async with asgi_client(service_app(run_folders, airflow_server.base_url)) as http:
        started = await http.post("/run-pipeline", json={"date": REPORT_DATE}, headers=ADMIN)
        assert started.status_code == 202, started.text
        body = started.json()
        assert body["ok"] is True and body["mode"] == "airflow" and body["state"] in ("queued", "running")
        run_id = body["runId"]

        states = []
        for _ in range(RUN_TIMEOUT_SECONDS):
            response = await http.get(f"/pipeline-runs/{run_id}", headers=ADMIN)
            assert response.status_code == 200, response.text
            states.append(response.json()["state"])
            if states[-1] in ("success", "failed"):
                break
            await asyncio.sleep(1)

    finished = response.json()
    assert finished["state"] == "success", (finished, airflow_server.log())
    assert finished["mode"] == "airflow" and finished["error"] is None
    assert finished["startedAt"].endswith("+00:00") and finished["startedAt"] <= finished["endedAt"]
    assert len(finished["reports"]) == 7
    assert all(Path(path).is_file() for path in finished["reports"].values())

    # What Airflow itself says about the run the service created.
    client = AirflowClient(airflow_server.base_url, USERNAME, PASSWORD)
    dag_run = await client.dag_run(run_id)
    assert dag_run["conf"] == {"date": REPORT_DATE}
    assert dag_run["logical_date"] is None and dag_run["state"] == "success"
    assert set((await client.task_states(run_id)).values()) == {"success"}

    # plugins/revenue_reports_plugin.py serves that report.html to whoever may read the DAG.
    report = Path(finished["reports"]["report.html"]).read_bytes()
    async with httpx.AsyncClient(base_url=airflow_server.base_url, timeout=30) as http:
        token = (await http.post("/auth/token", json={"username": USERNAME, "password": PASSWORD})).json()
        served = await http.get(
            "/revenue-reports/latest", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        anonymous = await http.get("/revenue-reports/latest")
    assert served.status_code == 200 and served.content == report
    assert anonymous.status_code in (401, 403)


async def test_a_run_created_in_airflow_itself_is_answered_for(airflow_server: AirflowServer, run_folders):
    # Triggered in Airflow (as from its UI): Airflow names it "manual__<time>+00:00".
    async with httpx.AsyncClient(base_url=airflow_server.base_url, timeout=30) as http:
        token = (await http.post("/auth/token", json={"username": USERNAME, "password": PASSWORD})).json()
        created = await http.post(
            "/api/v2/dags/revenue_pipeline/dagRuns",
            json={"logical_date": None},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
    run_id = created.json()["dag_run_id"]
    assert ":" in run_id and "+" in run_id

    async with asgi_client(service_app(run_folders, airflow_server.base_url)) as http:
        response = await http.get(f"/pipeline-runs/{run_id}", headers=ADMIN)
        missing = await http.get("/pipeline-runs/manual__2000-01-01T00:00:00+00:00", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["runId"] == run_id and response.json()["mode"] == "airflow"
    assert response.json()["state"] in ("queued", "running", "success")
    assert missing.status_code == 404


async def test_wrong_airflow_credentials_are_503_airflow_unavailable(
    airflow_server: AirflowServer, run_folders
):
    async with asgi_client(service_app(run_folders, airflow_server.base_url, password="wrong")) as http:
        response = await http.post("/run-pipeline", json={}, headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["error"] == "airflow_unavailable"
    assert "token" in response.json()["message"]


async def test_unreachable_airflow_is_503_and_records_nothing(run_folders):
    records = Path(run_folders.DATA_DIR) / "pipeline_runs"
    before = sorted(records.glob("*.json")) if records.exists() else []
    # free_port() binds, notes and closes: nothing listens there.
    async with asgi_client(service_app(run_folders, f"http://127.0.0.1:{free_port()}")) as http:
        response = await http.post("/run-pipeline", json={}, headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["error"] == "airflow_unavailable"
    assert (sorted(records.glob("*.json")) if records.exists() else []) == before


async def test_a_data_error_fails_at_once_and_its_message_is_the_runs_error(
    airflow_server: AirflowServer, run_folders
):
    sessions = Path(run_folders.DATA_DIR) / "sessions.csv"
    original = sessions.read_bytes()
    message = break_sessions_line_5(run_folders)
    try:
        async with asgi_client(service_app(run_folders, airflow_server.base_url)) as http:
            started = await http.post("/run-pipeline", json={}, headers=ADMIN)
            assert started.status_code == 202, started.text
            run_id = started.json()["runId"]
            for _ in range(RUN_TIMEOUT_SECONDS):
                response = await http.get(f"/pipeline-runs/{run_id}", headers=ADMIN)
                if response.json()["state"] in ("success", "failed"):
                    break
                await asyncio.sleep(1)
    finally:
        sessions.write_bytes(original)
    finished = response.json()
    assert finished["state"] == "failed", (finished, airflow_server.log())
    assert finished["error"] == f"extract: {message}"
    client = AirflowClient(airflow_server.base_url, USERNAME, PASSWORD)
    instances = await client._request("GET", f"{client._run_path(run_id)}/taskInstances")
    extract = next(ti for ti in instances.json()["task_instances"] if ti["task_id"] == "extract")
    assert extract["state"] == "failed" and extract["try_number"] == 1  # PIPELINE_TASK_RETRIES is 1 here
