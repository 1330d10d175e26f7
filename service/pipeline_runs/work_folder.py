"""Per-run work folders of the revenue pipeline: DATA_DIR/pipeline_work/<run id>.

Tasks hand each other Parquet files there. `publish` removes the folder of a run that
succeeded; a failed run's folder stays for inspection (and for re-running the failed task from
Airflow), and is pruned once it is older than WORK_DIR_RETENTION.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

WORK_ROOT = "pipeline_work"
WORK_DIR_RETENTION = timedelta(days=7)


def work_dir_for(data_dir: str | Path, run_id: str) -> Path:
    """Airflow run ids carry ':' and '+'; the folder name keeps only [A-Za-z0-9._-]."""
    return Path(data_dir) / WORK_ROOT / re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def prune_work_dirs(
    data_dir: str | Path, keep: Path, older_than: timedelta = WORK_DIR_RETENTION
) -> list[Path]:
    """Remove work folders (other than `keep`) untouched for longer than `older_than`."""
    root = Path(data_dir) / WORK_ROOT
    cutoff = time.time() - older_than.total_seconds()
    stale = [
        folder
        for folder in (root.iterdir() if root.is_dir() else [])
        if folder.is_dir() and folder != keep and folder.stat().st_mtime < cutoff
    ]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale
