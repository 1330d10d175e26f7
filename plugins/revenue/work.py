"""A run's work folder: the Parquet files and small JSON results the stages hand each other.

Its own module so that both the stage runner and the report writer can read it without
importing each other. A work folder is a local ``Path`` or, for sharded runs whose workers
share no disk, an Airflow ``ObjectStoragePath`` (``PIPELINE_WORK_URL``); a ``str`` naming
either (as XCom carries it) is accepted everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from revenue.io import PARQUET_COMPRESSION, json_text, read_parquet, write_json_atomic, write_parquet

# Rows per record batch when a big work file is streamed: a few MiB per batch, whatever the input size.
BATCH_ROWS = 65_536


def as_location(work_dir: Any) -> Any:
    """``work_dir`` as a Path (local path or ``file://``) or an ObjectStoragePath (any other URL)."""
    if isinstance(work_dir, str):
        from revenue.partition import work_location

        return work_location(work_dir)
    return work_dir


def work_path(work_dir: Any, name: str) -> Any:
    return as_location(work_dir) / name


def save_frame(work_dir: Any, name: str, frame: pd.DataFrame, row_group_rows: int | None = None) -> None:
    """``row_group_rows`` for a file that is later streamed: a reader decodes a row group at a time."""
    path = work_path(work_dir, f"{name}.parquet")
    if isinstance(path, Path) and row_group_rows is None:
        write_parquet(path, frame)
        return
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if not isinstance(path, Path):
        with path.open("wb") as handle:  # an object store's put is atomic: no temp file needed
            pq.write_table(table, handle, compression=PARQUET_COMPRESSION, row_group_size=row_group_rows)
        return
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temp, compression=PARQUET_COMPRESSION, row_group_size=row_group_rows)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


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


def open_parquet(work_dir: Any, name: str) -> pq.ParquetFile:
    path = work_path(work_dir, f"{name}.parquet")
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run the stage that produces {name!r} first")
    return pq.ParquetFile(path if isinstance(path, Path) else path.open("rb"))


def iter_tables(file: pq.ParquetFile, columns: list[str] | None = None) -> Iterator[pa.Table]:
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield pa.Table.from_batches([batch])


SortKey = Callable[[pa.Table], np.ndarray]


def _ascending(keys: np.ndarray, previous: int, source: Any) -> np.ndarray:
    """The merge is only right on files in key order: one out of order (a shard written by an older
    version, say) must fail the run, not publish rows in the wrong order."""
    if len(keys) and (keys[0] <= previous or bool(np.any(keys[1:] <= keys[:-1]))):
        raise ValueError(f"{source}: work file rows are not in merge order")
    return keys


def merge_sorted(sources: list[Any], name: str, out: Path, sort_key: SortKey) -> int:
    """The work files ``name`` under ``sources``, each already ordered by ``sort_key`` (unique int64
    keys), merged into ``out/name.parquet`` a batch at a time; returns the row count.

    Each round takes, from every source, the buffered rows up to the smallest last key among the
    sources not yet exhausted: no row after them can sort before them, so memory stays a few batches
    per source however large the files are.
    """
    opened = [(source, open_parquet(source, name)) for source in sources]
    filled = [(source, file) for source, file in opened if file.metadata.num_rows] or opened[:1]
    schema = filled[0][1].schema_arrow  # its pandas metadata keeps the dtypes an unsharded run reads back
    readers: list[Iterator[pa.Table] | None] = [iter_tables(file) for _, file in filled]
    buffers: list[pa.Table | None] = [None] * len(readers)
    keys: list[np.ndarray] = [np.empty(0, dtype="int64")] * len(readers)
    last = [np.iinfo("int64").min] * len(readers)
    target = out / f"{name}.parquet"
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    written = 0
    try:
        with pq.ParquetWriter(temp, schema, compression=PARQUET_COMPRESSION) as writer:
            while True:
                for index, reader in enumerate(readers):
                    while buffers[index] is None or (len(keys[index]) == 0 and reader is not None):
                        table = next(reader, None) if reader is not None else None
                        if table is None:
                            readers[index] = reader = None
                            if buffers[index] is None:
                                buffers[index] = schema.empty_table()
                            break
                        buffers[index] = table.cast(schema)
                        keys[index] = _ascending(sort_key(table), last[index], filled[index][0])
                        last[index] = keys[index][-1] if len(keys[index]) else last[index]
                open_lasts = [k[-1] for k, r in zip(keys, readers, strict=True) if r is not None]
                if not open_lasts and not any(len(k) for k in keys):
                    break
                frontier = min(open_lasts) if open_lasts else np.iinfo("int64").max
                heads, head_keys = [], []
                for index, buffer in enumerate(buffers):
                    assert buffer is not None
                    cut = int(np.searchsorted(keys[index], frontier, side="right"))
                    heads.append(buffer.slice(0, cut))
                    head_keys.append(keys[index][:cut])
                    buffers[index], keys[index] = buffer.slice(cut), keys[index][cut:]
                merged = pa.concat_tables(heads)
                order = np.argsort(np.concatenate(head_keys), kind="stable")
                writer.write_table(merged.take(order), row_group_size=BATCH_ROWS)
                written += len(order)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return written
