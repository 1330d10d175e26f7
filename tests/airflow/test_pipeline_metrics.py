"""Pipeline runs reach the service's metrics: an embedded /run-pipeline run is counted once, by
the DAG's publish task, in the shared multiprocess directory that /metrics merges."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sanic import Sanic

from service.app import create_app
from service.monitoring import metrics
from tests.airflow.harness import REPORT_DATE, pipeline_settings
from tests.conftest import TEST_ADMIN_TOKEN, asgi_client


@pytest.mark.slow
async def test_embedded_run_is_counted_once_with_its_duration(
    sqlite_url, tmp_path, synth_inputs, airflow_metadata_template, monkeypatch
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    # The run's worker process inherits this, as it does under `python -m service serve`.
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(shared))
    settings = pipeline_settings(tmp_path, sqlite_url, synth_inputs, airflow_metadata_template)
    Sanic.test_mode = True
    async with asgi_client(create_app(settings, name="pipeline_metrics")) as http:
        response = await http.post(
            "/run-pipeline",
            json={"date": REPORT_DATE, "wait": True},
            headers={"X-Admin-Token": TEST_ADMIN_TOKEN},
        )
    assert response.status_code == 200 and response.json()["state"] == "success", response.text

    body, _ = metrics.render_latest(str(shared))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("pipeline_runs_total", (("state", "success"),))] == 1
    assert samples[("pipeline_runs_total", (("state", "failed"),))] == 0
    assert samples[("pipeline_run_duration_seconds_count", (("state", "success"),))] == 1
    assert samples[("pipeline_run_duration_seconds_sum", (("state", "success"),))] > 0
    # The run is no longer in progress in any process.
    assert [
        v
        for (name, _), v in samples.items()
        if name == "pipeline_run_oldest_start_timestamp_seconds" and v > 0
    ] == []
