"""POST /run-pipeline and GET /pipeline-runs/{runId} (SPEC §2, §6): start and follow revenue_pipeline runs.

Two modes, chosen by AIRFLOW_API_URL: set, runs are created through Airflow's REST API v2 and
Airflow is asked for their state; unset, the same DAG runs embedded (service.pipeline_runs.
embedded_pipeline) in a worker process on this machine. Either way the run is recorded under
DATA_DIR/pipeline_runs/ (pipeline_run_store), so whichever web worker gets the follow-up
request can answer it.
"""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import date
from pathlib import Path

from revenue.dates import DATA_INTERVAL
from revenue.params import DATA_ERROR_XCOM_KEY
from service.config import Settings
from service.errors import Conflict, NotFound, Unavailable
from service.infrastructure.airflow_client import AirflowApiError, AirflowClient
from service.pipeline_runs import embedded as embedded_pipeline
from service.pipeline_runs.store import (
    PipelineRun,
    PipelineRunNotFound,
    RunStore,
    as_utc_iso,
    data_error_message,
    new_run_id,
    utc_now_iso,
)

RUNS_FOLDER = "pipeline_runs"

__all__ = [
    "PipelineBusy",
    "PipelineRun",
    "PipelineUnavailable",
    "get_run",
    "run_output",
    "start_run",
    "wait_for_run",
]


class PipelineBusy(Conflict):
    """An embedded run is already going (one at a time across all web workers)."""

    code = "pipeline_busy"


class PipelineUnavailable(Unavailable):
    """Airflow could not take or report the run."""

    code = "airflow_unavailable"


def _not_found(run_id: str) -> NotFound:
    return NotFound(f"No pipeline run {run_id!r}", [{"field": "runId", "problem": "unknown run"}])


def run_store(settings: Settings) -> RunStore:
    return RunStore(Path(settings.DATA_DIR) / RUNS_FOLDER)


def _airflow(settings: Settings) -> AirflowClient | None:
    if not settings.AIRFLOW_API_URL:
        return None
    return AirflowClient(settings.AIRFLOW_API_URL, settings.AIRFLOW_USERNAME, settings.AIRFLOW_PASSWORD)


async def start_run(settings: Settings, report_date: date | None) -> PipelineRun:
    """Start a run reporting on `report_date` (None: the DAG decides, SPEC §6).

    Raises PipelineBusy (embedded run in progress) or PipelineUnavailable (Airflow failed us).
    """
    store = run_store(settings)
    conf = {"date": report_date.isoformat()} if report_date else {}
    client = _airflow(settings)
    if client is None:
        if importlib.util.find_spec("airflow") is None:
            # The API image carries no Airflow: it must be pointed at an Airflow deployment.
            raise PipelineUnavailable(
                "embedded pipeline runs need Airflow installed (the [airflow] extra); "
                "set AIRFLOW_API_URL to run them in an Airflow deployment"
            )
        run = PipelineRun(new_run_id(), "embedded", "running", conf.get("date"), utc_now_iso())
        if embedded_pipeline.start(settings, store, run, conf) is None:
            raise PipelineBusy("an embedded pipeline run is already in progress")
        return run
    run = PipelineRun(new_run_id(), "airflow", "queued", conf.get("date"), utc_now_iso())
    try:
        created = await client.trigger(run.run_id, conf)
    except AirflowApiError as exc:
        raise PipelineUnavailable(str(exc)) from exc
    run.state = created.get("state") or run.state
    store.save(run)
    return run


async def _refresh_from_airflow(client: AirflowClient, run: PipelineRun) -> PipelineRun:
    try:
        dag_run = await client.dag_run(run.run_id)
        if dag_run is None:
            raise PipelineRunNotFound(run.run_id)
        run.started_at = as_utc_iso(dag_run.get("start_date")) or run.started_at
        run.ended_at = as_utc_iso(dag_run.get("end_date"))
        run.report_date = run.report_date or (dag_run.get("conf") or {}).get("date")
        if not run.report_date and dag_run.get("run_type") in ("scheduled", "backfill"):
            run.report_date = (as_utc_iso(dag_run.get("data_interval_start")) or "")[:10] or None
            run.report_date_reason = DATA_INTERVAL
        if dag_run["state"] in ("success", "failed"):
            published = await client.publish_result(run.run_id) or {}
            tasks = await client.task_states(run.run_id)
            data_errors = {
                task: message
                for task, state in tasks.items()
                if state == "failed"
                and isinstance(message := await client.task_xcom(run.run_id, task, DATA_ERROR_XCOM_KEY), str)
            }
            run.settle_date(published)
            run.finish(dag_run["state"], tasks, published.get("reports", {}), data_error_message(data_errors))
        else:
            run.state = dag_run["state"]
    except AirflowApiError as exc:
        raise PipelineUnavailable(str(exc)) from exc
    return run


async def get_run(settings: Settings, run_id: str) -> PipelineRun:
    """The run's current state; Airflow runs are refreshed from Airflow until they are done."""
    store = run_store(settings)
    client = _airflow(settings)
    try:
        run = store.load(run_id)
    except PipelineRunNotFound:
        # A run Airflow's own scheduler created is answered for too.
        if client is None:
            raise _not_found(run_id) from None
        run = PipelineRun(run_id, "airflow", "queued", None, utc_now_iso())
    if run.done:
        return run
    if run.mode == "embedded":
        return embedded_pipeline.settle_if_abandoned(store, run_id)
    if client is None:
        return run  # AIRFLOW_API_URL has been unset since: what was last seen
    try:
        run = await _refresh_from_airflow(client, run)
    except PipelineRunNotFound:
        raise _not_found(run_id) from None
    if store.storable(run_id):  # the scheduler's own ids ("scheduled__...+00:00") are asked afresh
        store.save(run)
    return run


async def wait_for_run(settings: Settings, run_id: str, poll_seconds: float = 0.5) -> PipelineRun:
    """The run once done, or as it stands after PIPELINE_WAIT_SECONDS (SPEC §6: never a bare timeout)."""
    deadline = asyncio.get_running_loop().time() + settings.PIPELINE_WAIT_SECONDS
    while not (run := await get_run(settings, run_id)).done:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return run
        await asyncio.sleep(min(poll_seconds, left))
    return run


def run_output(settings: Settings, run: PipelineRun) -> tuple[str, str]:
    """The brief's stdout and stderr of a finished run: its summary, and on failure why.

    stderr leads with the cause (the data error naming file and line, when there is one); an
    embedded run's log follows for whatever else broke.
    """
    if run.returncode == 0:
        return run.summary, ""
    cause = f"{run.error}\n" if run.error else ""
    if run.mode == "embedded":
        return run.summary, cause + embedded_pipeline.log_tail(run_store(settings), run.run_id)
    return run.summary, cause
