"""Airflow plugin: the latest revenue report (REPORTS_DIR/report.html) inside the Airflow UI.

The api-server mounts a small FastAPI app at /revenue-reports; "Revenue report" under Browse
shows /revenue-reports/latest. Only users who may read the revenue_pipeline DAG see it (the
same token or UI session cookie as the rest of Airflow's API).
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse

DAG_ID = "revenue_pipeline"
URL_PREFIX = "/revenue-reports"

reports_app = FastAPI(
    title="Revenue reports",
    dependencies=[Depends(requires_access_dag("GET", param_dag_id=DAG_ID))],
)


@reports_app.get("/latest", response_class=FileResponse)
def latest_report() -> FileResponse:
    report = Path(os.environ.get("REPORTS_DIR", "reports")) / "report.html"
    if not report.is_file():
        raise HTTPException(status_code=404, detail=f"No report yet in {report.parent}: run {DAG_ID} first")
    return FileResponse(report, media_type="text/html")


class RevenueReportsPlugin(AirflowPlugin):
    name = "revenue_reports"
    fastapi_apps = [{"app": reports_app, "url_prefix": URL_PREFIX, "name": "Revenue reports"}]
    external_views = [
        {
            "name": "Revenue report",
            "href": f"{URL_PREFIX}/latest",
            "url_route": "revenue-report",
            "destination": "nav",
            "category": "browse",
        }
    ]
