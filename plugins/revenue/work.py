"""A run's work folder: the Parquet files and small JSON results the stages hand each other.

Its own module so that both the stage runner and the report writer can read it without
importing each other.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from revenue.io import read_parquet, write_json_atomic, write_parquet


def work_path(work_dir: str | Path, name: str) -> Path:
    return Path(work_dir) / name


def save_frame(work_dir: str | Path, name: str, frame: pd.DataFrame) -> None:
    write_parquet(work_path(work_dir, f"{name}.parquet"), frame)


def load_frame(work_dir: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = work_path(work_dir, f"{name}.parquet")
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run the stage that produces {name!r} first")
    return read_parquet(path, columns)


def save_meta(work_dir: str | Path, name: str, meta: dict) -> dict:
    write_json_atomic(work_path(work_dir, f"{name}.json"), meta)
    return meta


def load_meta(work_dir: str | Path, name: str) -> dict:
    return json.loads(work_path(work_dir, f"{name}.json").read_text(encoding="utf-8"))
