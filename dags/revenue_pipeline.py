"""revenue_pipeline: the daily revenue reports of SPEC §5, one task per stage (SPEC §6).

Wiring only. The stage logic is the `revenue` library (plugins/revenue: sharded, stages); the
database edge for AppsFlyer postbacks is service.postbacks.batches. `extract` writes the
inputs as `shards` hash partitions under the run's work location (PIPELINE_WORK_URL/<run>, a
path or an object-storage URL every worker reaches; else the run's local work folder);
normalise, dedup, reconcile, roas_anomaly and arpdau run once per shard (dynamic task mapping),
each reading only its partition; `publish` combines the shards' partial results and writes the
reports. Tasks hand each other small dicts naming the location and their shard; no DataFrame
ever goes through XCom. Only `publish` writes into REPORTS_DIR and only after
it succeeds are the postbacks that `extract` took marked processed, so a failed run leaves
the previous reports and the postbacks as they were.

Run conf (typed params, all optional): date (YYYY-MM-DD; default: a scheduled run's data
interval start, else the latest day costs_daily.csv covers), tolerance_minutes, shards.
A data error (missing file or column, unreadable or empty CSV) fails its task at once, without
retries, and its message is pushed as the task's `data_error` XCom for the service to show.
Environment: DATA_DIR, REPORTS_DIR, DATABASE_URL (as the service reads them),
PIPELINE_TASK_RETRIES (default 2), PIPELINE_RETRY_DELAY_SECONDS (default 120), PIPELINE_SHARDS (default 1),
PIPELINE_WORK_URL (default: the run's folder under DATA_DIR).
Heavy imports (pandas, the service's ORM) stay inside the tasks so parsing this file is cheap.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from revenue.params import DATA_ERROR_XCOM_KEY, DEFAULT_TOLERANCE_MINUTES, MAX_TOLERANCE_MINUTES


def _record_success(run_started: datetime | None) -> None:
    """Count the run in the service's pipeline metrics (service.monitoring.metrics). They reach
    /metrics when this process shares the API's PROMETHEUS_MULTIPROC_DIR (embedded runs do)."""
    from service.monitoring import metrics

    if run_started is not None:
        started = run_started if run_started.tzinfo else run_started.replace(tzinfo=UTC)
        metrics.record_pipeline_run("success", (datetime.now(UTC) - started).total_seconds())


_HANDED_ON = ("work_dir", "location", "shards", "shard", "report_date", "report_date_reason")


def _handoff(previous: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    return {key: previous[key] for key in _HANDED_ON} | {"stats": stats}


Handoff = TypeVar("Handoff", dict[str, Any], list[dict[str, Any]])


def fail_fast_on_data_errors(stage: Callable[..., Handoff]) -> Callable[..., Handoff]:
    """Bad input data fails the task for good (retries are for transient faults), with its message
    kept where the service and the Airflow UI find it."""

    @functools.wraps(stage)
    def run(*args: Any, **kwargs: Any) -> Handoff:
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
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    # Runs rewrite the same report files; one at a time keeps them from interleaving.
    max_active_runs=1,
    default_args={
        "retries": int(os.environ.get("PIPELINE_TASK_RETRIES", "2")),
        "retry_delay": timedelta(seconds=float(os.environ.get("PIPELINE_RETRY_DELAY_SECONDS", "120"))),
    },
    params={
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="D-1 to report on (YYYY-MM-DD). Empty: a scheduled run's data interval start, "
            "else the latest day costs_daily.csv covers.",
        ),
        "tolerance_minutes": Param(
            DEFAULT_TOLERANCE_MINUTES,
            type="number",
            minimum=0,
            maximum=MAX_TOLERANCE_MINUTES,
            description="Reconciliation window: AppsFlyer and gateway times at most this far apart match.",
        ),
        "shards": Param(
            int(os.environ.get("PIPELINE_SHARDS", "1")),
            type="integer",
            minimum=1,
            maximum=1024,
            description="Hash partitions of the inputs (SPEC §6 distributed execution).",
        ),
    },
    tags=["revenue", "reports"],
    doc_md=__doc__,
)
def revenue_pipeline() -> None:
    @task
    @fail_fast_on_data_errors
    def extract() -> list[dict[str, Any]]:
        from revenue import sharded
        from revenue.dates import report_date_for_run
        from revenue.postbacks import postbacks_to_purchases
        from service.config import Settings
        from service.pipeline_runs import work_folder as pipeline_work
        from service.postbacks import batches as postback_batches

        context = get_current_context()
        dag_run = context["dag_run"]
        settings = Settings()
        choice = report_date_for_run(
            context["params"].get("date"),
            str(getattr(dag_run.run_type, "value", dag_run.run_type)),
            context.get("data_interval_start"),
        )
        work_dir = pipeline_work.work_dir_for(settings.DATA_DIR, dag_run.run_id)
        pipeline_work.prune_work_dirs(settings.DATA_DIR, keep=work_dir)
        location = sharded.run_location(work_dir, dag_run.run_id)
        postbacks = postback_batches.take_batch(settings.DATABASE_URL, work_dir)
        shards = int(context["params"]["shards"])
        stats = sharded.extract(
            settings.DATA_DIR, location, shards, postbacks_to_purchases(postbacks), choice.text, choice.reason
        )
        run = {
            "work_dir": str(work_dir),
            "location": str(location),
            "shards": shards,
            "report_date": stats["date"],
            "report_date_reason": stats["dateReason"],
        }
        # One handoff per shard: the mapped stages below each take one.
        return [run | {"shard": shard, "stats": {"rows": stats["rows"]}} for shard in range(shards)]

    @task
    @fail_fast_on_data_errors
    def normalise(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import sharded

        return _handoff(run, sharded.normalise_shard(run["location"], run["shard"]))

    @task
    @fail_fast_on_data_errors
    def dedup(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import sharded

        return _handoff(run, sharded.dedup_shard(run["location"], run["shard"]))

    @task
    @fail_fast_on_data_errors
    def reconcile(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import sharded

        tolerance = float(get_current_context()["params"]["tolerance_minutes"])
        return _handoff(run, sharded.reconcile_shard(run["location"], run["shard"], tolerance))

    @task
    @fail_fast_on_data_errors
    def roas_anomaly(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import sharded

        return _handoff(run, sharded.roas_shard(run["location"], run["shard"]))

    @task
    @fail_fast_on_data_errors
    def arpdau(run: dict[str, Any]) -> dict[str, Any]:
        from revenue import sharded

        return _handoff(run, sharded.arpdau_shard(run["location"], run["shard"], run["report_date"]))

    @task
    @fail_fast_on_data_errors
    def publish(reconciled: list[dict[str, Any]], *_other_branches: list[dict[str, Any]]) -> dict[str, Any]:
        import shutil

        from revenue import sharded, stages
        from service.config import Settings
        from service.postbacks import batches as postback_batches

        settings = Settings()
        run = next(iter(reconciled))
        work_dir = run["work_dir"]
        tolerance = float(get_current_context()["params"]["tolerance_minutes"])
        combined = sharded.combine_for_publish(run["location"], run["shards"], work_dir, tolerance)
        published = stages.publish(combined, settings.REPORTS_DIR)
        marked = postback_batches.commit_batch(settings.DATABASE_URL, work_dir)
        sharded.remove_location(run["location"])
        shutil.rmtree(work_dir, ignore_errors=True)
        _record_success(get_current_context()["dag_run"].start_date)
        summary = published["summary"]
        return {
            **published,
            "report_date": summary["date"],
            "report_date_reason": summary["dateReason"],
            "postbacks_processed": marked,
        }

    # Every stage between extract and publish runs once per shard (dynamic task mapping).
    curated = dedup.expand(run=normalise.expand(run=extract()))
    publish(reconcile.expand(run=curated), roas_anomaly.expand(run=curated), arpdau.expand(run=curated))


revenue_pipeline()
