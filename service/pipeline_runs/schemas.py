"""Request and response models of /run-pipeline and /pipeline-runs (SPEC §2, §6)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from revenue.dates import parse_report_date
from service.http.schemas import StrictBody, example


def _strict_date(value: object) -> dt.date:
    # Only the "YYYY-MM-DD" text form: pydantic's date would also take numbers and other layouts.
    if not isinstance(value, str):
        raise ValueError("must be a YYYY-MM-DD string")
    return parse_report_date(value)


ReportDate = Annotated[dt.date, BeforeValidator(_strict_date)]
RunMode = Literal["embedded", "airflow"]
RunState = Literal["queued", "running", "success", "failed"]
EXAMPLE_RUN_ID = "manual__2025-11-10T00:00:00+00:00"
EXAMPLE_STARTED = "2025-11-12T10:30:00+00:00"
EXAMPLE_REPORT_DATE = {
    "reportDate": "2025-11-10",
    "reportDateReason": "given",
    "reportDateWhy": "the date given to the run",
}


class RunPipelineRequest(StrictBody):
    """Start a pipeline run (an empty body takes the defaults)."""

    model_config = example(date="2025-11-10", wait=False)

    date: ReportDate | None = Field(
        default=None, description="D-1 to report on; default: the latest day costs_daily.csv covers (SPEC §6)"
    )
    wait: bool = Field(
        default=False,
        description=(
            "answer 200 when the run is done (up to PIPELINE_WAIT_SECONDS, then 202) instead of 202 at once"
        ),
    )


class ReportDateFields(BaseModel):
    reportDate: str | None = Field(
        description="D-1 the run reports on; null until a run without a date has read costs_daily.csv"
    )
    reportDateReason: Literal["given", "data_interval", "latest_cost_date"] = Field(
        description="given (the request's date), data_interval (a scheduled run) or latest_cost_date"
    )
    reportDateWhy: str = Field(description="the reason in words")


class RunPipelineAccepted(ReportDateFields):
    """The run was started; follow it with GET /pipeline-runs/{runId}."""

    model_config = example(
        ok=True,
        runId=EXAMPLE_RUN_ID,
        state="running",
        mode="embedded",
        **EXAMPLE_REPORT_DATE,
    )

    ok: bool = Field(description="true unless a waited-for run failed")
    runId: str = Field(description="The run's id (Airflow's dag_run_id in Airflow mode)")
    state: RunState = Field(description="queued, running, success or failed")
    mode: RunMode = Field(description="embedded (in the API's host) or airflow (through AIRFLOW_API_URL)")


class RunPipelineFinished(RunPipelineAccepted):
    """The finished run (`wait` true)."""

    model_config = example(
        ok=True,
        runId=EXAMPLE_RUN_ID,
        state="success",
        mode="embedded",
        **EXAMPLE_REPORT_DATE,
        returncode=0,
        stdout="reports for 2025-11-10 written to reports/",
        stderr="",
    )

    returncode: int = Field(description="0 when the run succeeded")
    stdout: str = Field(description="A summary of the run")
    stderr: str = Field(description="Why it failed (empty on success)")


class PipelineRunResponse(ReportDateFields):
    """A pipeline run and, once published, its reports."""

    model_config = example(
        runId=EXAMPLE_RUN_ID,
        state="success",
        mode="embedded",
        startedAt=EXAMPLE_STARTED,
        endedAt="2025-11-12T10:30:20+00:00",
        reports={"roas_d1.json": "reports/roas_d1.json", "report.html": "reports/report.html"},
        error=None,
        **EXAMPLE_REPORT_DATE,
    )

    runId: str = Field(description="The run's id")
    state: RunState = Field(description="queued, running, success or failed")
    mode: RunMode = Field(description="embedded or airflow")
    startedAt: str = Field(description="Start time (ISO 8601 UTC)")
    endedAt: str | None = Field(description="End time; null while running")
    reports: dict[str, str] = Field(description="report file name -> path, once published")
    error: str | None = Field(description="why the run failed: a data error names the task, file and line")
