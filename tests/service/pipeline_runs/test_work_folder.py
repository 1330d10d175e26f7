"""Work folders of pipeline runs (service.pipeline_runs.work_folder)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from service.pipeline_runs.work_folder import prune_work_dirs, work_dir_for


def test_work_dir_names_are_safe_for_airflow_run_ids(tmp_path):
    work = work_dir_for(tmp_path, "manual__2025-11-12T01:00:00+00:00")
    assert work == tmp_path / "pipeline_work" / "manual__2025-11-12T01_00_00_00_00"


def test_only_stale_folders_of_other_runs_are_pruned(tmp_path):
    old, recent, current = (work_dir_for(tmp_path, name) for name in ("old-run", "recent-run", "this-run"))
    for folder in (old, recent, current):
        folder.mkdir(parents=True)
        (folder / "raw_purchases.parquet").write_bytes(b"x")
    eight_days_ago = time.time() - timedelta(days=8).total_seconds()
    os.utime(old, (eight_days_ago, eight_days_ago))
    os.utime(current, (eight_days_ago, eight_days_ago))

    assert prune_work_dirs(tmp_path, keep=current) == [old]
    assert not old.exists() and recent.exists() and current.exists()


def test_pruning_without_any_work_folder_is_a_no_op(tmp_path):
    assert prune_work_dirs(tmp_path, keep=work_dir_for(tmp_path, "x")) == []
