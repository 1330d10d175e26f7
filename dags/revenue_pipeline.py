"""revenue_pipeline: the daily revenue reports of SPEC §5, one task per stage (SPEC §6).

Wiring only. The stage logic is the `revenue` library (plugins/revenue); the database edge
for AppsFlyer postbacks is service.postbacks.batches. Tasks hand each other a small
dict naming the run's work folder, where each stage reads and writes Parquet files; no
DataFrame ever goes through XCom. Only `publish` writes into REPORTS_DIR and only after
it succeeds are the postbacks that `extract` took marked processed, so a failed run leaves
the previous reports and the postbacks as they were.

Run conf (all optional): {"date": "YYYY-MM-DD", "tolerance_minutes": 10}.
Environment: DATA_DIR, REPORTS_DIR, DATABASE_URL (as the service reads them),
PIPELINE_TASK_RETRIES (default 2), PIPELINE_RETRY_DELAY_SECONDS (default 120).
Heavy imports (pandas, the service's ORM) stay inside the tasks so parsing this file is cheap.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

DEFAULT_TOLERANCE_MINUTES = 10.0


def _record_success(run_started: datetime | None) -> None:
    """Count the run in the service's pipeline metrics (service.monitoring.metrics). They reach /metrics
    when this process shares the API's PROMETHEUS_MULTIPROC_DIR (embedded runs always do)."""
    from service.monitoring import metrics

    if run_started is not None:
        started = run_started if run_started.tzinfo else run_started.replace(tzinfo=timezone.utc)
        metrics.record_pipeline_run("success", (datetime.now(timezone.utc) - started).total_seconds())


def _handoff(previous: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    return {"work_dir": previous["work_dir"], "report_date": previous["report_date"], "stats": stats}


@dag(
    dag_id="revenue_pipeline",
    description="Purchases, costs and sessions -> curated purchases, reconciliation, ROAS, ARPDAU",
    # 01:00 UTC daily; a data-interval timetable so a scheduled run's interval is exactly D-1
    # (Airflow 3's bare "@daily" has a zero-width interval).
    schedule=CronDataIntervalTimetable("0 1 * * *", timezone="UTC"),
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    # Runs rewrite the same report files; one at a time keeps them from interleaving.
    max_active_runs=1,
    default_args={
        "retries": int(os.environ.get("PIPELINE_TASK_RETRIES", "2")),
        "retry_delay": timedelta(seconds=float(os.environ.get("PIPELINE_RETRY_DELAY_SECONDS", "120"))),
    },
    tags=["revenue", "reports"],
    doc_md=__doc__,
)
def revenue_pipeline() -> None:
    @task
    def extract() -> dict[str, Any]:
        from revenue import stages
        from revenue.dates import resolve_report_date
        from revenue.postbacks import postbacks_to_purchases
        from service.config import Settings
        from service.domain import pipeline_work
        from service.postbacks import batches as postback_batches

        context = get_current_context()
        dag_run = context["dag_run"]
        settings = Settings()
        report_date = resolve_report_date(
            (dag_run.conf or {}).get("date"), context.get("data_interval_start"), dag_run.run_after
        )
        work_dir = pipeline_work.work_dir_for(settings.DATA_DIR, dag_run.run_id)
        pipeline_work.prune_work_dirs(settings.DATA_DIR, keep=work_dir)
        postbacks = postback_batches.take_batch(settings.DATABASE_URL, work_dir)
        stats = stages.extract(settings.DATA_DIR, work_dir, postbacks_to_purchases(postbacks))
        run = {"work_dir": str(work_dir), "report_date": report_date.isoformat() if report_date else None}
        return _handoff(run, stats)

    @task
    def normalise(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.normalise(run["work_dir"]))

    @task
    def dedup(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.dedup(run["work_dir"]))

    @task
    def reconcile(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        conf = get_current_context()["dag_run"].conf or {}
        tolerance = float(conf.get("tolerance_minutes", DEFAULT_TOLERANCE_MINUTES))
        return _handoff(run, stages.reconcile(run["work_dir"], tolerance_minutes=tolerance))

    @task
    def roas_anomaly(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.roas_anomaly(run["work_dir"], run["report_date"]))

    @task
    def arpdau(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.arpdau(run["work_dir"], run["report_date"]))

    @task
    def publish(reconciled: dict[str, Any], *_other_branches: dict[str, Any]) -> dict[str, Any]:
        import shutil

        from revenue import stages
        from service.config import Settings
        from service.postbacks import batches as postback_batches

        settings = Settings()
        work_dir = reconciled["work_dir"]
        published = stages.publish(work_dir, settings.REPORTS_DIR)
        marked = postback_batches.commit_batch(settings.DATABASE_URL, work_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
        _record_success(get_current_context()["dag_run"].start_date)
        return {**published, "report_date": reconciled["report_date"], "postbacks_processed": marked}

    curated = dedup(normalise(extract()))
    publish(reconcile(curated), roas_anomaly(curated), arpdau(curated))


revenue_pipeline()
