"""A run's work folder: the Parquet files and small JSON results the stages hand each other.

Its own module so that both the stage runner and the report writer can read it without
importing each other. A work folder is a local ``Path`` or, for sharded runs whose workers
share no disk, an Airflow ``ObjectStoragePath`` (``PIPELINE_WORK_URL``); a ``str`` naming
either (as XCom carries it) is accepted everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from revenue.io import PARQUET_COMPRESSION, json_text, read_parquet, write_json_atomic, write_parquet


def as_location(work_dir: Any) -> Any:
    """``work_dir`` as a Path (local path or ``file://``) or an ObjectStoragePath (any other URL)."""
    if isinstance(work_dir, str):
        from revenue.partition import work_location

        return work_location(work_dir)
    return work_dir


def work_path(work_dir: Any, name: str) -> Any:
    return as_location(work_dir) / name


def save_frame(work_dir: Any, name: str, frame: pd.DataFrame) -> None:
    path = work_path(work_dir, f"{name}.parquet")
    if isinstance(path, Path):
        write_parquet(path, frame)
        return
    with path.open("wb") as handle:  # an object store's put is atomic: no temp file needed
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False), handle, compression=PARQUET_COMPRESSION
        )


def load_frame(work_dir: Any, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = work_path(work_dir, f"{name}.parquet")
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run the stage that produces {name!r} first")
    if isinstance(path, Path):
        return read_parquet(path, columns)
    with path.open("rb") as handle:
        frame: pd.DataFrame = pq.read_table(handle, columns=columns).to_pandas()
    return frame


def save_meta(work_dir: Any, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    path = work_path(work_dir, f"{name}.json")
    if isinstance(path, Path):
        write_json_atomic(path, meta)
    else:
        path.write_text(json_text(meta), encoding="utf-8")
    return meta


def load_meta(work_dir: Any, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(work_path(work_dir, f"{name}.json").read_text(encoding="utf-8"))
    return loaded
