"""POST /run-pipeline and GET /pipeline-runs/{runId} in embedded mode (no AIRFLOW_API_URL)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from sanic import Sanic

from service.app import create_app
from service.pipeline_runs.embedded import lock_holder
from service.pipeline_runs.runs import run_store
from tests.airflow.harness import REPORT_DATE, break_sessions_line_5, pipeline_settings
from tests.conftest import TEST_ADMIN_TOKEN, asgi_client
from tests.pipeline.cli import run_cli

ADMIN = {"X-Admin-Token": TEST_ADMIN_TOKEN}
POLL_SECONDS = 0.5
RUN_TIMEOUT_SECONDS = 240


def make_app(settings, name: str) -> Sanic:
    Sanic.test_mode = True
    return create_app(settings, name=name)


@pytest.fixture
def settings(sqlite_url, tmp_path, synth_inputs, airflow_metadata_template):
    return pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)


async def poll_until_done(http, run_id: str) -> dict:
    states = []
    for _ in range(int(RUN_TIMEOUT_SECONDS / POLL_SECONDS)):
        response = await http.get(f"/pipeline-runs/{run_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        states.append(response.json()["state"])
        if states[-1] in ("success", "failed"):
            return {**response.json(), "seen": states}
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"run {run_id} still {states[-1]} after {RUN_TIMEOUT_SECONDS}s")


@pytest.mark.slow
async def test_run_is_accepted_refuses_a_second_while_running_and_publishes_reports(settings):
    async with asgi_client(make_app(settings, "embedded_run")) as http:
        started = await http.post("/run-pipeline", json={"date": REPORT_DATE}, headers=ADMIN)
        assert started.status_code == 202, started.text
        body = started.json()
        assert body == {
            "ok": True,
            "runId": body["runId"],
            "state": "running",
            "mode": "embedded",
            "reportDate": REPORT_DATE,
            "reportDateReason": "given",
            "reportDateWhy": "the date given to the run",
        }

        busy = await http.post("/run-pipeline", json={}, headers=ADMIN)
        assert busy.status_code == 409
        assert busy.json()["error"] == "pipeline_busy"

        finished = await poll_until_done(http, body["runId"])

    assert finished["state"] == "success", finished
    assert finished["seen"][0] == "running"
    assert finished["mode"] == "embedded" and finished["error"] is None
    assert finished["startedAt"] <= finished["endedAt"]
    assert len(finished["reports"]) == 7
    for path in finished["reports"].values():
        assert Path(path).parent == Path(settings.REPORTS_DIR) and Path(path).stat().st_size > 0


@pytest.mark.slow
async def test_wait_true_answers_when_done_with_returncode_and_output(settings):
    async with asgi_client(make_app(settings, "embedded_wait")) as http:
        response = await http.post("/run-pipeline", json={"date": REPORT_DATE, "wait": True}, headers=ADMIN)
        assert response.status_code == 200, response.text
        body = response.json()
        # Any worker answers for the run afterwards, from the run record.
        record = await http.get(f"/pipeline-runs/{body['runId']}", headers=ADMIN)
    assert body["ok"] is True and body["returncode"] == 0 and body["state"] == "success"
    assert body["mode"] == "embedded"
    assert body["stdout"].startswith("Pipeline execution completed successfully: 7 reports")
    assert f"report date: {REPORT_DATE} (the date given to the run)" in body["stdout"]
    assert body["stderr"] == ""
    assert record.json()["state"] == "success"
    assert sorted(p.name for p in Path(settings.REPORTS_DIR).iterdir()) == sorted(record.json()["reports"])


async def test_a_worker_that_dies_is_reported_failed_not_running_forever(settings):
    async with asgi_client(make_app(settings, "embedded_dies")) as http:
        started = await http.post("/run-pipeline", headers=ADMIN)
        assert started.status_code == 202
        run_id = started.json()["runId"]
        store = run_store(settings)
        # Kill the worker process this run started (it holds the lock until it dies).
        os.kill(int(store.path(run_id, ".pid").read_text()), signal.SIGKILL)
        for _ in range(100):
            if lock_holder(store.folder) is None:
                break
            await asyncio.sleep(0.05)
        response = await http.get(f"/pipeline-runs/{run_id}", headers=ADMIN)
        again = await http.post("/run-pipeline", headers=ADMIN)  # the lock went with the worker
    assert response.json()["state"] == "failed"
    assert "ended without reporting" in response.json()["error"]
    assert again.status_code == 202
    os.kill(int(store.path(again.json()["runId"], ".pid").read_text()), signal.SIGKILL)  # not needed further


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, "unauthorized"), ({"X-Admin-Token": "not-the-token"}, 403, "forbidden")],
)
async def test_admin_token_is_required_when_configured(settings, headers, status, code):
    async with asgi_client(make_app(settings, f"embedded_auth_{status}")) as http:
        run = await http.post("/run-pipeline", json={}, headers=headers)
        lookup = await http.get("/pipeline-runs/20250101T000000Z-00000000", headers=headers)
    assert (run.status_code, run.json()["error"]) == (status, code)
    assert lookup.status_code == status
    assert not (Path(settings.DATA_DIR) / "pipeline_runs").exists()


async def test_development_without_admin_token_is_open(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(
        tmp_path,
        sqlite_url,
        synth_inputs,
        airflow_metadata_template,
        ENVIRONMENT="development",
        ADMIN_TOKEN="",
    )
    async with asgi_client(make_app(settings, "embedded_dev_open")) as http:
        response = await http.get("/pipeline-runs/20250101T000000Z-00000000")
    assert response.status_code == 404  # past the guard: the run simply does not exist


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "2025-13-01"}, "date"),
        ({"date": "12/11/2025"}, "date"),
        ({"date": 20251112}, "date"),
        ({"wait": "yes"}, "wait"),
    ],
)
async def test_invalid_body_is_422_naming_the_field(settings, body, field):
    async with asgi_client(make_app(settings, f"embedded_422_{field}_{abs(hash(str(body)))}")) as http:
        response = await http.post("/run-pipeline", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == field


async def test_unknown_run_is_404(settings):
    async with asgi_client(make_app(settings, "embedded_404")) as http:
        missing = await http.get("/pipeline-runs/20250101T000000Z-00000000", headers=ADMIN)
        traversal = await http.get("/pipeline-runs/..%2F..%2Fetc%2Fpasswd", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert traversal.status_code == 404


@pytest.mark.slow
async def test_a_broken_csv_fails_fast_and_names_file_and_line_in_error_and_stderr(settings):
    message = break_sessions_line_5(settings)
    async with asgi_client(make_app(settings, "embedded_broken")) as http:
        response = await http.post("/run-pipeline", json={"wait": True}, headers=ADMIN)
        assert response.status_code == 200, response.text
        body = response.json()
        record = (await http.get(f"/pipeline-runs/{body['runId']}", headers=ADMIN)).json()
    assert body["ok"] is False and body["returncode"] == 1 and body["state"] == "failed"
    assert body["stderr"].splitlines()[0] == f"extract: {message}"
    assert record["error"] == f"extract: {message}"
    assert body["stdout"].startswith(f"Pipeline execution failed: extract: {message}")


@pytest.mark.slow
async def test_wait_past_its_limit_answers_202_with_the_run_still_going(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(
        tmp_path, sqlite_url, synth_inputs, airflow_metadata_template, PIPELINE_WAIT_SECONDS="0"
    )
    async with asgi_client(make_app(settings, "embedded_wait_limit")) as http:
        response = await http.post("/run-pipeline", json={"wait": True}, headers=ADMIN)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["state"] == "running" and "returncode" not in body
        finished = await poll_until_done(http, body["runId"])  # no run outlives the test
    assert finished["state"] == "success"


@pytest.mark.slow
async def test_api_and_cli_without_a_date_report_on_the_same_day_and_say_why(settings, tmp_path):
    async with asgi_client(make_app(settings, "embedded_default_date")) as http:
        started = await http.post("/run-pipeline", json={}, headers=ADMIN)
        assert started.json()["reportDate"] is None  # not known until the run reads costs_daily.csv
        assert started.json()["reportDateReason"] == "latest_cost_date"
        finished = await poll_until_done(http, started.json()["runId"])
    cli = run_cli(settings.DATA_DIR, tmp_path / "cli-reports")
    assert cli.returncode == 0, cli.stderr
    why = "no date given: the latest day costs_daily.csv covers"
    assert (finished["reportDate"], finished["reportDateWhy"]) == (REPORT_DATE, why)
    assert f"Report date (D-1): {finished['reportDate']} ({why})" in cli.stdout
    api_roas = (Path(settings.REPORTS_DIR) / "roas_d1.json").read_text()
    assert api_roas == (tmp_path / "cli-reports" / "roas_d1.json").read_text()


def test_sanic_response_timeout_outlasts_the_wait(settings):
    for wait_seconds in (0, 300, 900):
        app = make_app(
            settings.model_copy(update={"PIPELINE_WAIT_SECONDS": wait_seconds}), f"timeout_{wait_seconds}"
        )
        assert max(60, wait_seconds + 30) <= app.config.RESPONSE_TIMEOUT
