"""revenue_pipeline run end to end by dag.test() (the embedded worker) on generated data.

Each run goes through service.domain.embedded_pipeline exactly as POST /run-pipeline starts it:
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
from service.domain import embedded_pipeline
from service.domain.pipeline_run_store import PipelineRun, RunStore, new_run_id, utc_now_iso
from service.domain.pipeline_runs import run_store
from tests.airflow.harness import REPORT_DATE, insert_postbacks, pipeline_settings, processed_flags

pytestmark = pytest.mark.slow

REPORT_FILES = (
    "purchases_curated.csv", "reconciliation.json", "reconciliation_detail.csv",
    "roas_d1.json", "roas_anomaly.json", "arpdau_d1.json", "report.html",
)
PURCHASE_POSTBACKS = [
    {"event_name": "af_purchase", "appsflyer_id": "pb-user-1", "event_revenue_usd": "4.99",
     "event_time": f"{REPORT_DATE} 12:00:00", "campaign": "postback push", "af_receipt_id": "pb-r1"},
    {"event_name": "purchase", "appsflyer_id": "pb-user-2", "event_revenue": "1,99",
     "event_time": f"{REPORT_DATE}T13:30:00Z", "campaign": "postback push"},
]
INSTALL_POSTBACK = {"event_name": "install", "appsflyer_id": "pb-user-3", "event_time": f"{REPORT_DATE} 09:00:00"}


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

    rows = [{"id": i, "payload": json.dumps(p)} for i, p in zip(purchase_ids, PURCHASE_POSTBACKS)]
    expected = tmp_path / "expected"
    run_all(settings.DATA_DIR, expected, report_date=REPORT_DATE,
            postback_purchases=postbacks_to_purchases(rows), )
    for name in REPORT_FILES:
        assert (reports / name).read_bytes() == (expected / name).read_bytes(), name
    assert "pb-r1" in (reports / "purchases_curated.csv").read_text()

    flags = asyncio.run(processed_flags(settings.DATABASE_URL))
    assert {flags[i] for i in purchase_ids} == {1}
    assert flags[install_id] == 0  # not a purchase: not the pipeline's to consume
    assert not any((Path(settings.DATA_DIR) / "pipeline_work").iterdir())  # work folder removed


def test_a_failure_in_reconcile_leaves_reports_and_postbacks_untouched(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template
):
    settings = pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)
    reports = Path(settings.REPORTS_DIR)
    reports.mkdir(parents=True)
    previous = {name: f"previous {name}\n" for name in REPORT_FILES}
    for name, text in previous.items():
        (reports / name).write_text(text)
    ids = asyncio.run(insert_postbacks(settings.DATABASE_URL, PURCHASE_POSTBACKS))

    # A tolerance that is not a number: reconcile itself raises, on every try.
    run = run_embedded(settings, {"date": REPORT_DATE, "tolerance_minutes": "ten"})

    assert run.state == "failed" and run.returncode == 1
    assert run.tasks["reconcile"] == "failed"
    assert run.tasks["publish"] == "upstream_failed"
    assert {run.tasks[t] for t in ("extract", "normalise", "dedup")} == {"success"}
    assert run.error == "task(s) failed: reconcile"
    assert run.reports == {}
    assert {name: (reports / name).read_text() for name in REPORT_FILES} == previous
    assert asyncio.run(processed_flags(settings.DATABASE_URL)) == {i: 0 for i in ids}
