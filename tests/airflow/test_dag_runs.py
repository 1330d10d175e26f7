"""revenue_pipeline run end to end by dag.test() (the embedded worker) on generated data.

Each run goes through service.pipeline_runs.embedded exactly as POST /run-pipeline starts it:
a worker process with its own Airflow home runs the DAG file, and the run record says how it went.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from revenue.postbacks import postbacks_to_purchases
from revenue.stages import run_all
from service.config import Settings
from service.pipeline_runs import embedded as embedded_pipeline
from service.pipeline_runs.routes import run_response
from service.pipeline_runs.runs import run_store
from service.pipeline_runs.store import PipelineRun, new_run_id, utc_now_iso
from tests.airflow.harness import (
    REPORT_DATE,
    break_sessions_line_5,
    insert_postbacks,
    pipeline_settings,
    processed_flags,
)

pytestmark = pytest.mark.slow

REPORT_FILES = (
    "purchases_curated.csv",
    "reconciliation.json",
    "reconciliation_detail.csv",
    "roas_d1.json",
    "roas_anomaly.json",
    "arpdau_d1.json",
    "report.html",
)
PURCHASE_POSTBACKS = [
    {
        "event_name": "af_purchase",
        "appsflyer_id": "pb-user-1",
        "event_revenue_usd": "4.99",
        "event_time": f"{REPORT_DATE} 12:00:00",
        "campaign": "postback push",
        "af_receipt_id": "pb-r1",
    },
    {
        "event_name": "purchase",
        "appsflyer_id": "pb-user-2",
        "event_revenue": "1,99",
        "event_time": f"{REPORT_DATE}T13:30:00Z",
        "campaign": "postback push",
    },
]
INSTALL_POSTBACK = {
    "event_name": "install",
    "appsflyer_id": "pb-user-3",
    "event_time": f"{REPORT_DATE} 09:00:00",
}


def run_embedded(settings: Settings, conf: dict) -> PipelineRun:
    store = run_store(settings)
    run = PipelineRun(new_run_id(), "embedded", "running", conf.get("date"), utc_now_iso())
    worker = embedded_pipeline.start(settings, store, run, conf)
    assert worker is not None
    assert worker.wait(timeout=300) in (0, 1)
    return store.load(run.run_id)


def test_a_run_publishes_what_the_library_computes_and_marks_its_postbacks(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)
    purchase_ids = asyncio.run(insert_postbacks(settings.DATABASE_URL, PURCHASE_POSTBACKS))
    [install_id] = asyncio.run(insert_postbacks(settings.DATABASE_URL, [INSTALL_POSTBACK]))

    run = run_embedded(settings, {"date": REPORT_DATE})

    assert run.state == "success", run.summary + embedded_pipeline.log_tail(run_store(settings), run.run_id)
    assert run.returncode == 0 and run.error is None
    assert set(run.tasks.values()) == {"success"} and len(run.tasks) == 7
    reports = Path(settings.REPORTS_DIR)
    assert sorted(run.reports) == sorted(REPORT_FILES)
    assert all(Path(path).parent == reports for path in run.reports.values())

    rows = [
        {"id": i, "payload": json.dumps(p)} for i, p in zip(purchase_ids, PURCHASE_POSTBACKS, strict=False)
    ]
    expected = tmp_path / "expected"
    run_all(
        settings.DATA_DIR,
        expected,
        report_date=REPORT_DATE,
        postback_purchases=postbacks_to_purchases(rows),
    )
    for name in REPORT_FILES:
        assert (reports / name).read_bytes() == (expected / name).read_bytes(), name
    assert "pb-r1" in (reports / "purchases_curated.csv").read_text()

    flags = asyncio.run(processed_flags(settings.DATABASE_URL))
    assert {flags[i] for i in purchase_ids} == {1}
    assert flags[install_id] == 0  # not a purchase: not the pipeline's to consume
    assert not any((Path(settings.DATA_DIR) / "pipeline_work").iterdir())  # work folder removed


def previous_reports(settings: Settings) -> dict[str, str]:
    reports = Path(settings.REPORTS_DIR)
    reports.mkdir(parents=True, exist_ok=True)
    previous = {name: f"previous {name}\n" for name in REPORT_FILES}
    for name, text in previous.items():
        (reports / name).write_text(text)
    return previous


def test_a_data_error_fails_at_once_without_retries_and_names_file_and_line(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)
    previous = previous_reports(settings)
    message = break_sessions_line_5(settings)

    run = run_embedded(settings, {})  # tasks may retry once (FAST_RETRIES): a data error must not

    assert run.state == "failed" and run.returncode == 1
    assert run.tasks["extract"] == "failed" and run.tries["extract"] == 1
    assert run.error == f"extract: {message}"
    assert run_response(run).error == run.error
    assert {name: (Path(settings.REPORTS_DIR) / name).read_text() for name in REPORT_FILES} == previous
    log = embedded_pipeline.log_tail(run_store(settings), run.run_id)
    assert message in log
    assert log.count("No tasks to run") <= 1


def test_a_transient_failure_is_retried_and_leaves_reports_and_postbacks_untouched(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)
    previous = previous_reports(settings)
    ids = asyncio.run(insert_postbacks(settings.DATABASE_URL, PURCHASE_POSTBACKS))
    # Not the data's fault: a directory where report.html must go makes every publish attempt fail.
    (Path(settings.REPORTS_DIR) / "report.html").unlink()
    (Path(settings.REPORTS_DIR) / "report.html").mkdir()
    del previous["report.html"]

    run = run_embedded(settings, {"date": REPORT_DATE})

    assert run.state == "failed" and run.returncode == 1
    assert run.tasks["publish"] == "failed" and run.tries["publish"] == 2  # retried (FAST_RETRIES: 1)
    assert {
        run.tasks[t] for t in ("extract", "normalise", "dedup", "reconcile", "roas_anomaly", "arpdau")
    } == {"success"}
    assert run.error == "task(s) failed: publish"
    assert run.reports == {}
    assert {name: (Path(settings.REPORTS_DIR) / name).read_text() for name in previous} == previous
    assert asyncio.run(processed_flags(settings.DATABASE_URL)) == {i: 0 for i in ids}


def test_a_run_without_a_date_reports_on_the_latest_cost_date_and_says_why(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)

    run = run_embedded(settings, {})

    assert run.state == "success", run.summary
    assert (run.report_date, run.report_date_reason) == (REPORT_DATE, "latest_cost_date")
    assert f"report date: {REPORT_DATE} (no date given: the latest day costs_daily.csv covers)" in run.summary
    assert run_response(run).reportDate == REPORT_DATE
