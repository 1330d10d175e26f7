"""POST /run-pipeline and GET /pipeline-runs/{runId} (SPEC §2, §6): transport only."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Component

from service.config import Settings
from service.http.docs import ADMIN_TOKEN, documented
from service.http.responses import respond
from service.http.validation import parse_body
from service.identity.admin import HEADER as ADMIN_HEADER
from service.identity.admin import check_admin_token
from service.pipeline_runs import runs as pipeline_runs
from service.pipeline_runs.schemas import (
    PipelineRunResponse,
    RunPipelineAccepted,
    RunPipelineFinished,
    RunPipelineRequest,
)
from service.pipeline_runs.store import PipelineRun

bp = Blueprint("pipeline")
# Time for a waited-for run's answer to be written once PIPELINE_WAIT_SECONDS are up.
ANSWER_MARGIN_SECONDS = 30


def response_timeout(settings: Settings, current: float) -> float:
    """Sanic's RESPONSE_TIMEOUT (60 s by default, one setting for every route) must outlast a
    `wait`, which answers by itself when PIPELINE_WAIT_SECONDS are up (SPEC §6)."""
    return max(float(current), float(settings.PIPELINE_WAIT_SECONDS + ANSWER_MARGIN_SECONDS))


@bp.post("/run-pipeline")
@documented(
    "Run the revenue pipeline: through Airflow when AIRFLOW_API_URL is set, else embedded. "
    "202 at once; with `wait` true, 200 when done with the run's returncode, stdout and stderr, "
    "or 202 with the run still going after PIPELINE_WAIT_SECONDS",
    tag="pipeline",
    body=RunPipelineRequest,
    ok=RunPipelineAccepted,
    ok_status=202,
    errors=(400, 401, 403, 409, 422, 503),
    security=ADMIN_TOKEN,
)
@openapi.response(200, {"application/json": Component(RunPipelineFinished)}, "The run is done (`wait` true)")
async def run_pipeline(request: Request) -> HTTPResponse:
    settings = request.app.ctx.settings
    check_admin_token(settings, request.headers.get(ADMIN_HEADER))
    body = parse_body(RunPipelineRequest, request) if request.body else RunPipelineRequest()
    run = await pipeline_runs.start_run(settings, body.date)
    if body.wait:
        run = await pipeline_runs.wait_for_run(settings, run.run_id)
    accepted = RunPipelineAccepted(
        ok=True, runId=run.run_id, state=run.state, mode=run.mode, **_date_fields(run)
    )
    if not run.done:
        return respond(accepted, status=202)
    stdout, stderr = pipeline_runs.run_output(settings, run)
    finished = accepted.model_dump() | {
        "ok": run.returncode == 0,
        "returncode": run.returncode,
        "stdout": stdout,
        "stderr": stderr,
    }
    return respond(RunPipelineFinished(**finished))


@bp.get("/pipeline-runs/<run_id:str>")
@documented(
    "State of a pipeline run (started here, or by Airflow's scheduler in Airflow mode)",
    tag="pipeline",
    ok=PipelineRunResponse,
    errors=(401, 403, 404, 503),
    security=ADMIN_TOKEN,
)
async def pipeline_run(request: Request, run_id: str) -> HTTPResponse:
    settings = request.app.ctx.settings
    check_admin_token(settings, request.headers.get(ADMIN_HEADER))
    return respond(run_response(await pipeline_runs.get_run(settings, run_id)))


def _date_fields(run: PipelineRun) -> dict[str, Any]:
    return {
        "reportDate": run.report_date,
        "reportDateReason": run.report_date_reason,
        "reportDateWhy": run.report_date_why,
    }


def run_response(run: PipelineRun) -> PipelineRunResponse:
    """The body of GET /pipeline-runs/{runId} (SPEC §2), with the report date and why (SPEC §6)."""
    return PipelineRunResponse(
        runId=run.run_id,
        state=run.state,
        mode=run.mode,
        startedAt=run.started_at,
        endedAt=run.ended_at,
        reports=run.reports,
        error=run.error,
        **_date_fields(run),
    )
