"""Pipeline run records: one JSON file per run under DATA_DIR/pipeline_runs/, readable by any worker."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from revenue.dates import GIVEN, LATEST_COST_DATE, REASONS
from revenue.io import write_json_atomic

RunMode = Literal["embedded", "airflow"]
TERMINAL_STATES = frozenset({"success", "failed"})
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")


class PipelineRunNotFound(LookupError):
    pass


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def as_utc_iso(text: str | None) -> str | None:
    """Airflow's `...Z` timestamps in the service's form (SPEC §0: UTC with offset, seconds)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    # Sortable by start time, unique without coordination, valid as an Airflow dag_run_id and a file name.
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def data_error_message(data_errors: dict[str, str]) -> str | None:
    """A run's error from its tasks' data errors: the cause, named by the task that met it."""
    return "; ".join(f"{task}: {message}" for task, message in sorted(data_errors.items())) or None


@dataclass
class PipelineRun:
    run_id: str
    mode: RunMode
    state: str
    report_date: str | None
    started_at: str
    ended_at: str | None = None
    reports: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    returncode: int | None = None
    tasks: dict[str, str | None] = field(default_factory=dict)
    summary: str = ""
    # Why the run reports on report_date (revenue.dates reasons); with no date given, the run
    # settles both once it has read costs_daily.csv.
    report_date_reason: str | None = None
    # Attempts per task, so that "failed at once, no retries" can be seen and checked.
    tries: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.report_date_reason is None:
            self.report_date_reason = GIVEN if self.report_date else LATEST_COST_DATE

    @property
    def report_date_why(self) -> str:
        return REASONS.get(self.report_date_reason or "", self.report_date_reason or "")

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    def settle_date(self, published: dict[str, Any]) -> None:
        """The date the run used and why, from what its publish task returned."""
        self.report_date = published.get("report_date") or self.report_date
        self.report_date_reason = published.get("report_date_reason") or self.report_date_reason

    def finish(
        self, state: str, tasks: dict[str, str | None], reports: dict[str, str], error: str | None
    ) -> None:
        """Record the outcome; the summary is the brief's `stdout` of a finished run."""
        self.state, self.tasks, self.reports = state, tasks, reports
        self.ended_at = self.ended_at or utc_now_iso()
        self.returncode = 0 if state == "success" else 1
        failed = sorted(task for task, task_state in tasks.items() if task_state == "failed")
        if state != "success":
            self.error = error or (f"task(s) failed: {', '.join(failed)}" if failed else "the run failed")
        head = (
            f"Pipeline execution completed successfully: {len(reports)} reports"
            if state == "success"
            else f"Pipeline execution failed: {self.error}"
        )
        lines = [f"{head} (run {self.run_id}, {self.mode})", f"report date: {self.date_statement}"]
        self.summary = (
            "\n".join(lines + [f"{task}: {task_state}" for task, task_state in sorted(tasks.items())]) + "\n"
        )

    @property
    def date_statement(self) -> str:
        """Which day the run reports on and why, in one phrase."""
        if self.report_date:
            return f"{self.report_date} ({self.report_date_why})"
        return f"not settled yet ({self.report_date_why})"


class RunStore:
    """Each record is written whole via temp file + rename, so readers never see half of one."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def storable(run_id: str) -> bool:
        # Run ids come from URLs: anything but the id alphabet cannot name a record (nor a path).
        return RUN_ID_PATTERN.fullmatch(run_id) is not None

    def path(self, run_id: str, suffix: str = ".json") -> Path:
        if not self.storable(run_id):
            raise PipelineRunNotFound(run_id)
        return self.folder / f"{run_id}{suffix}"

    def save(self, run: PipelineRun) -> None:
        write_json_atomic(self.path(run.run_id), asdict(run))

    def load(self, run_id: str) -> PipelineRun:
        try:
            return PipelineRun(**json.loads(self.path(run_id).read_text("utf-8")))
        except FileNotFoundError:
            raise PipelineRunNotFound(run_id) from None
