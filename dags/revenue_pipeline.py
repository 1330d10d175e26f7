"""revenue_pipeline: the daily revenue reports of SPEC §5, one task per stage (SPEC §6).

Wiring only. The stage logic is the `revenue` library (plugins/revenue); the database edge
for AppsFlyer postbacks is service.postbacks.batches. Tasks hand each other a small
dict naming the run's work folder, where each stage reads and writes Parquet files; no
DataFrame ever goes through XCom. Only `publish` writes into REPORTS_DIR and only after
it succeeds are the postbacks that `extract` took marked processed, so a failed run leaves
the previous reports and the postbacks as they were.

Run conf (typed params, all optional): date (YYYY-MM-DD; default: a scheduled run's data
interval start, else the latest day costs_daily.csv covers), tolerance_minutes, shards.
A data error (missing file or column, unreadable or empty CSV) fails its task at once, without
retries, and its message is pushed as the task's `data_error` XCom for the service to show.
Environment: DATA_DIR, REPORTS_DIR, DATABASE_URL (as the service reads them),
PIPELINE_TASK_RETRIES (default 2), PIPELINE_RETRY_DELAY_SECONDS (default 120), PIPELINE_SHARDS (default 1).
Heavy imports (pandas, the service's ORM) stay inside the tasks so parsing this file is cheap.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from revenue.params import DATA_ERROR_XCOM_KEY, DEFAULT_TOLERANCE_MINUTES, MAX_TOLERANCE_MINUTES


def _record_success(run_started: datetime | None) -> None:
    """Count the run in the service's pipeline metrics (service.monitoring.metrics). They reach /metrics
    when this process shares the API's PROMETHEUS_MULTIPROC_DIR (embedded runs always do)."""
    from service.monitoring import metrics

    if run_started is not None:
        started = run_started if run_started.tzinfo else run_started.replace(tzinfo=timezone.utc)
        metrics.record_pipeline_run("success", (datetime.now(timezone.utc) - started).total_seconds())


def _handoff(previous: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    return {key: previous[key] for key in ("work_dir", "report_date", "report_date_reason")} | {"stats": stats}


def fail_fast_on_data_errors(stage: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Bad input data fails the task for good (retries are for transient faults), with its message
    kept where the service and the Airflow UI find it."""

    @functools.wraps(stage)
    def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        from airflow.exceptions import AirflowFailException

        from revenue.io import InputDataError

        try:
            return stage(*args, **kwargs)
        except InputDataError as exc:
            get_current_context()["ti"].xcom_push(key=DATA_ERROR_XCOM_KEY, value=str(exc))
            raise AirflowFailException(str(exc)) from exc

    return run


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
    params={
        "date": Param(
            None, type=["null", "string"], format="date",
            description="D-1 to report on (YYYY-MM-DD). Empty: a scheduled run's data interval start, "
                        "else the latest day costs_daily.csv covers.",
        ),
        "tolerance_minutes": Param(
            DEFAULT_TOLERANCE_MINUTES, type="number", minimum=0, maximum=MAX_TOLERANCE_MINUTES,
            description="Reconciliation window: AppsFlyer and gateway times at most this far apart match.",
        ),
        "shards": Param(
            int(os.environ.get("PIPELINE_SHARDS", "1")), type="integer", minimum=1, maximum=1024,
            description="Hash partitions of the inputs (SPEC §6 distributed execution).",
        ),
    },
    tags=["revenue", "reports"],
    doc_md=__doc__,
)
def revenue_pipeline() -> None:
    @task
    @fail_fast_on_data_errors
    def extract() -> dict[str, Any]:
        from revenue import stages
        from revenue.dates import report_date_for_run
        from revenue.postbacks import postbacks_to_purchases
        from service.config import Settings
        from service.pipeline_runs import work_folder as pipeline_work
        from service.postbacks import batches as postback_batches

        context = get_current_context()
        dag_run = context["dag_run"]
        settings = Settings()
        choice = report_date_for_run(
            context["params"].get("date"), str(getattr(dag_run.run_type, "value", dag_run.run_type)),
            context.get("data_interval_start"),
        )
        work_dir = pipeline_work.work_dir_for(settings.DATA_DIR, dag_run.run_id)
        pipeline_work.prune_work_dirs(settings.DATA_DIR, keep=work_dir)
        postbacks = postback_batches.take_batch(settings.DATABASE_URL, work_dir)
        stats = stages.extract(settings.DATA_DIR, work_dir, postbacks_to_purchases(postbacks))
        run = {"work_dir": str(work_dir), "report_date": choice.text, "report_date_reason": choice.reason}
        return _handoff(run, stats)

    @task
    @fail_fast_on_data_errors
    def normalise(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.normalise(run["work_dir"]))

    @task
    @fail_fast_on_data_errors
    def dedup(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.dedup(run["work_dir"]))

    @task
    @fail_fast_on_data_errors
    def reconcile(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        tolerance = float(get_current_context()["params"]["tolerance_minutes"])
        return _handoff(run, stages.reconcile(run["work_dir"], tolerance_minutes=tolerance))

    @task
    @fail_fast_on_data_errors
    def roas_anomaly(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.roas_anomaly(run["work_dir"], run["report_date"], run["report_date_reason"]))

    @task
    @fail_fast_on_data_errors
    def arpdau(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import stages

        return _handoff(run, stages.arpdau(run["work_dir"], run["report_date"], run["report_date_reason"]))

    @task
    @fail_fast_on_data_errors
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
        summary = published["summary"]
        return {**published, "report_date": summary["date"], "report_date_reason": summary["dateReason"],
                "postbacks_processed": marked}

    curated = dedup(normalise(extract()))
    publish(reconcile(curated), roas_anomaly(curated), arpdau(curated))


revenue_pipeline()
