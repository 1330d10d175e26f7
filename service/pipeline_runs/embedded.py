"""The embedded mode of /run-pipeline: revenue_pipeline run by `dag.test()` in a worker process.

The worker has its own Airflow home and SQLite metadata in DATA_DIR/airflow/embedded/ (apart
from `make airflow`'s DATA_DIR/airflow, which may be running at the same time) and runs the
very DAG file Airflow would (dags/revenue_pipeline.py), off the request path. One run at a time
across every web worker: the starter takes an exclusive flock on DATA_DIR/pipeline_runs/
.embedded.lock and hands the locked descriptor to the worker process, so the lock lives exactly
as long as the run, is released by the kernel if the worker dies, and needs no clean-up.

Run as `python -m service.pipeline_runs.embedded RUNS_DIR RUN_ID CONF_JSON` (by `start`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from revenue.params import DATA_ERROR_XCOM_KEY
from service.config import Settings
from service.monitoring import metrics
from service.pipeline_runs.store import PipelineRun, RunStore, data_error_message

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT_ROOT / "dags"
PLUGINS_FOLDER = PROJECT_ROOT / "plugins"
DAG_ID = "revenue_pipeline"
LOCK_FILE = ".embedded.lock"
LOG_TAIL_CHARS = 20_000


def airflow_home_env(home: Path) -> dict[str, str]:
    """Airflow configured for `home` (SQLite metadata inside it) and this repository's DAGs."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def airflow_env(settings: Settings) -> dict[str, str]:
    """The worker's environment: a private Airflow home, and the service's data paths made absolute."""
    home = Path(settings.DATA_DIR).resolve() / "airflow" / "embedded"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **airflow_home_env(home),
        "DATA_DIR": str(Path(settings.DATA_DIR).resolve()),
        "REPORTS_DIR": str(Path(settings.REPORTS_DIR).resolve()),
        "DATABASE_URL": settings.DATABASE_URL,
    }


def _open_lock(runs_dir: Path) -> int:
    runs_dir.mkdir(parents=True, exist_ok=True)
    return os.open(runs_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)


def start(
    settings: Settings, store: RunStore, run: PipelineRun, conf: dict[str, Any]
) -> subprocess.Popen[bytes] | None:
    """Record `run` and start its worker; None (and nothing recorded) when a run is in progress."""
    fd = _open_lock(store.folder)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        # Which run holds the lock, for settle_if_abandoned.
        os.ftruncate(fd, 0)
        os.pwrite(fd, run.run_id.encode(), 0)
        store.save(run)
        with store.path(run.run_id, ".log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", __name__, str(store.folder), run.run_id, json.dumps(conf)],
                env=airflow_env(settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
                # Its own session: a restart of the web worker neither signals nor ends the run.
                start_new_session=True,
            )
        store.path(run.run_id, ".pid").write_text(str(worker.pid))
    finally:
        os.close(fd)  # the worker's inherited copy keeps the lock
    threading.Thread(target=worker.wait, name=f"reap-{run.run_id}", daemon=True).start()
    return worker


def lock_holder(runs_dir: Path) -> str | None:
    """The run id of the embedded run in progress, None when there is none."""
    fd = _open_lock(runs_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 256, 0).decode(errors="replace")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def settle_if_abandoned(store: RunStore, run_id: str) -> PipelineRun:
    """A run recorded as going whose worker no longer holds the lock died without reporting: failed."""
    if lock_holder(store.folder) == run_id:
        return store.load(run_id)
    run = store.load(run_id)  # re-read: the worker may have written its result a moment ago
    if not run.done:
        run.finish("failed", run.tasks, {}, "the embedded pipeline worker ended without reporting a result")
        store.save(run)
    return run


def log_tail(store: RunStore, run_id: str) -> str:
    try:
        return store.path(run_id, ".log").read_text("utf-8", errors="replace")[-LOG_TAIL_CHARS:]
    except FileNotFoundError:
        return ""


def _state_name(state: Any) -> str | None:
    # Airflow hands back its state enums or, from some paths, their plain string values.
    return None if state is None else str(getattr(state, "value", state))


class _FirstOfEachMessage(logging.Filter):
    """dag.test() logs "No tasks to run: <tasks>" every second while a task waits for its retry or
    failures propagate downstream: say it once (by the message's template, not its arguments)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@dataclass
class DagOutcome:
    state: str
    tasks: dict[str, str | None]
    tries: dict[str, int]
    published: dict[str, Any]
    data_errors: dict[str, str]


def _run_dag(conf: dict[str, Any]) -> DagOutcome:
    """One dag.test() of revenue_pipeline: states, attempts, what publish returned, data errors."""
    # Airflow reads AIRFLOW_HOME & co. when first imported: only ever import it in the worker.
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils import db as airflow_db
    from airflow.utils.session import create_session

    airflow_db.upgradedb()  # creates the metadata DB on first use; a no-op once current
    logging.getLogger("airflow.sdk.definitions.dag").addFilter(_FirstOfEachMessage())
    bag = DagBag(dag_folder=DAGS_FOLDER)
    if bag.import_errors:
        raise RuntimeError(f"the DAG folder has import errors: {bag.import_errors}")
    dag_run = bag.get_dag(DAG_ID).test(logical_date=None, run_conf=conf)
    instances = dag_run.get_task_instances()
    with create_session() as session:

        def xcoms(key: str, task_ids: str | list[str] | None = None) -> dict[str, Any]:
            query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=DAG_ID, task_ids=task_ids, key=key)
            rows = session.scalars(query)
            return {row.task_id: XComModel.deserialize_value(row) for row in rows}  # type: ignore[attr-defined]

        published = xcoms("return_value", "publish").get("publish", {})
        data_errors = xcoms(DATA_ERROR_XCOM_KEY)
    return DagOutcome(
        str(_state_name(dag_run.state)),
        {ti.task_id: _state_name(ti.state) for ti in instances},
        {ti.task_id: int(ti.try_number) for ti in instances},
        published,
        data_errors,
    )


def main(runs_dir: str, run_id: str, conf_json: str) -> int:
    store = RunStore(runs_dir)
    run = store.load(run_id)
    metrics.pipeline_run_started(run_id)
    try:
        outcome = _run_dag(json.loads(conf_json))
        run.tries = outcome.tries
        run.settle_date(outcome.published)
        run.finish(
            outcome.state,
            outcome.tasks,
            outcome.published.get("reports", {}),
            data_error_message(outcome.data_errors),
        )
    except Exception as exc:  # the record must say why, whatever broke
        traceback.print_exc()
        run.finish("failed", run.tasks, {}, f"{type(exc).__name__}: {exc}")
    store.save(run)
    _record_metrics(run)
    print(run.summary, flush=True)
    return run.returncode or 0


def _record_metrics(run: PipelineRun) -> None:
    # A successful run is counted by the DAG's publish task (in both modes); only the other
    # outcomes are counted here, so no run is counted twice.
    metrics.pipeline_run_ended(run.run_id)
    if run.state != "success":
        seconds = (
            datetime.fromisoformat(run.ended_at or run.started_at) - datetime.fromisoformat(run.started_at)
        ).total_seconds()
        metrics.record_pipeline_run(run.state, seconds)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
