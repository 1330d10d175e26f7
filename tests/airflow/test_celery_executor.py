"""revenue_pipeline on a real Airflow with CeleryExecutor: two Celery workers, Redis broker,
PostgreSQL metadata, triggered with shards=4 through the REST API v2; every mapped stage runs
once per shard on the workers, and the reports equal the unsharded CLI's on the same data.

Skips when Redis or PostgreSQL is unreachable; under CI=true that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.airflow.celery_cluster import celery_cluster, unavailable_reason
from tests.airflow.harness import REPORT_DATE
from tests.airflow.test_dag_runs import REPORT_FILES
from tests.pipeline.cli import run_cli

pytestmark = pytest.mark.slow

USERNAME, PASSWORD = "celery-admin", "a-test-password"
RUN_TIMEOUT_SECONDS = 100
SHARDS = 4
MAPPED_STAGES = ("normalise", "dedup", "reconcile", "roas_anomaly", "arpdau")


@pytest.fixture(scope="module")
def celery_available() -> None:
    reason = unavailable_reason()
    if reason and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    if reason:
        pytest.skip(f"LOUD SKIP: {reason} (set CI=true to make this a failure)")


def cli_reports(data_dir: Path, reports_dir: Path) -> Path:
    """The unsharded CLI run (no --shards: the whole-file path)."""
    completed = run_cli(data_dir, reports_dir, "--date", REPORT_DATE, "--no-progress", timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return reports_dir


def test_a_sharded_run_maps_its_stages_over_two_celery_workers_and_publishes_what_the_cli_computes(
    celery_available, tmp_path, synth_inputs, sqlite_url
):
    data_dir, reports_dir, shared_work = tmp_path / "data", tmp_path / "reports", tmp_path / "shared-work"
    shutil.copytree(synth_inputs, data_dir)
    with celery_cluster(
        tmp_path / "airflow",
        USERNAME,
        PASSWORD,
        DATA_DIR=str(data_dir),
        REPORTS_DIR=str(reports_dir),
        DATABASE_URL=sqlite_url,
        PIPELINE_WORK_URL=f"file://{shared_work}",
    ) as cluster:
        run_id = cluster.trigger("revenue_pipeline", {"date": REPORT_DATE, "shards": SHARDS})
        run = cluster.wait_for_run("revenue_pipeline", run_id, RUN_TIMEOUT_SECONDS)
        assert run["state"] == "success", (run, cluster.log())
        instances = cluster.task_instances("revenue_pipeline", run_id)
        assert cluster.run_ids("revenue_pipeline") == [run_id]
        worker_logs = {n: (cluster.home / f"worker{n}.log").read_text(errors="replace") for n in (1, 2)}

    assert {ti["state"] for ti in instances} == {"success"}
    map_indexes = Counter()
    for ti in instances:
        map_indexes[ti["task_id"]] += 1
        if ti["task_id"] in MAPPED_STAGES:
            assert ti["map_index"] in range(SHARDS)
        else:
            assert ti["map_index"] == -1
    assert map_indexes == Counter({"extract": 1, "publish": 1, **{stage: SHARDS for stage in MAPPED_STAGES}})
    # Every task instance went to a Celery worker through the broker, and both workers took some.
    received = {
        n: set(re.findall(r"Task execute_workload\[([0-9a-f-]+)\] received", log))
        for n, log in worker_logs.items()
    }
    assert sum(len(ids) for ids in received.values()) == len(instances), worker_logs
    assert all(received.values()), {n: len(ids) for n, ids in received.items()}
    # The partitions lived under PIPELINE_WORK_URL and were removed once published.
    assert shared_work.is_dir() and not any(shared_work.iterdir())

    expected = cli_reports(data_dir, tmp_path / "cli-reports")
    for name in REPORT_FILES:
        assert (reports_dir / name).read_bytes() == (expected / name).read_bytes(), name
