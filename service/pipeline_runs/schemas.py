"""Request and response models of /run-pipeline and /pipeline-runs (SPEC §2, §6)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from revenue.dates import parse_report_date
from service.http.schemas import StrictBody


def _strict_date(value: object) -> dt.date:
    # Only the "YYYY-MM-DD" text form: pydantic's date would also take numbers and other layouts.
    if not isinstance(value, str):
        raise ValueError("must be a YYYY-MM-DD string")
    return parse_report_date(value)


ReportDate = Annotated[dt.date, BeforeValidator(_strict_date)]
RunMode = Literal["embedded", "airflow"]
RunState = Literal["queued", "running", "success", "failed"]


class RunPipelineRequest(StrictBody):
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
    reportDateReason: Literal["given", "data_interval", "latest_cost_date"]
    reportDateWhy: str = Field(description="the reason in words")


class RunPipelineAccepted(ReportDateFields):
    ok: bool
    runId: str
    state: RunState
    mode: RunMode


class RunPipelineFinished(RunPipelineAccepted):
    returncode: int
    stdout: str
    stderr: str


class PipelineRunResponse(ReportDateFields):
    runId: str
    state: RunState
    mode: RunMode
    startedAt: str
    endedAt: str | None
    reports: dict[str, str] = Field(description="report file name -> path, once published")
    error: str | None = Field(description="why the run failed: a data error names the task, file and line")
