"""The revenue_pipeline DAG as Airflow parses it (SPEC §6), probed in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.airflow.harness import REPO_ROOT, airflow_env, seed_airflow_home

STAGES = ("extract", "normalise", "dedup", "reconcile", "roas_anomaly", "arpdau", "publish")


@pytest.fixture(scope="module")
def parsed_dag(tmp_path_factory: pytest.TempPathFactory, airflow_metadata_template) -> dict:
    home = seed_airflow_home(tmp_path_factory.mktemp("airflow-probe"), airflow_metadata_template)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tests" / "airflow" / "dag_probe.py"), str(REPO_ROOT / "dags")],
        env=airflow_env(home, PIPELINE_TASK_RETRIES="2", PIPELINE_RETRY_DELAY_SECONDS="120"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_dag_folder_imports_without_errors(parsed_dag):
    assert parsed_dag["import_errors"] == {}
    assert parsed_dag["dag_ids"] == ["revenue_pipeline"]


def test_one_task_per_stage_wired_in_stage_order(parsed_dag):
    assert sorted(parsed_dag["downstream"]) == sorted(STAGES)
    assert parsed_dag["downstream"] == {
        "extract": ["normalise"],
        "normalise": ["dedup"],
        # reconcile, ROAS and ARPDAU all read only the curated purchases and inputs: side by side.
        "dedup": ["arpdau", "reconcile", "roas_anomaly"],
        "reconcile": ["publish"],
        "roas_anomaly": ["publish"],
        "arpdau": ["publish"],
        "publish": [],
    }


def test_daily_data_interval_timetable_without_catchup(parsed_dag):
    assert parsed_dag["timetable"] == "CronDataIntervalTimetable"
    assert parsed_dag["timetable_summary"] == "0 1 * * *"
    assert parsed_dag["catchup"] is False
    assert parsed_dag["max_active_runs"] == 1


def test_a_scheduled_run_reports_on_the_day_its_data_interval_covers(parsed_dag):
    assert parsed_dag["scheduled_interval"] == ["2025-11-12T01:00:00+00:00", "2025-11-13T01:00:00+00:00"]
    assert parsed_dag["scheduled_report_date"] == "2025-11-12"


def test_every_task_retries_after_a_delay(parsed_dag):
    assert parsed_dag["retries"] == {stage: [2, 120.0] for stage in STAGES}


def test_run_conf_is_declared_as_typed_params_with_one_tolerance_default(parsed_dag):
    from revenue.params import DEFAULT_TOLERANCE_MINUTES

    params = parsed_dag["params"]
    assert sorted(params) == ["date", "shards", "tolerance_minutes"]
    assert params["date"]["value"] is None and params["date"]["schema"]["format"] == "date"
    assert params["tolerance_minutes"]["value"] == DEFAULT_TOLERANCE_MINUTES
    assert params["tolerance_minutes"]["schema"]["type"] == "number"
    assert params["shards"]["value"] == 1 and params["shards"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1024,
    }


def test_the_trigger_form_rejects_bad_conf(parsed_dag):
    assert parsed_dag["param_errors"] == {
        "good": None,
        "date_not_a_date": "ParamValidationError",
        "tolerance_text": "ParamValidationError",
        "tolerance_negative": "ParamValidationError",
        "shards_zero": "ParamValidationError",
        "shards_fraction": "ParamValidationError",
    }
