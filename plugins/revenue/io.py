"""Reading the four input CSVs with schema checks, and atomic writers for reports.

Inputs are read entirely as text (pyarrow CSV engine, dtype=str) so that normalisation,
not the parser, decides what a revenue like ``1.234,56`` or a bad timestamp means.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

# SPEC §5: the columns each input must carry (extra columns are ignored).
INPUT_SCHEMAS: dict[str, tuple[str, ...]] = {
    "purchases": (
        "appsflyer_id", "event_time_utc", "event_name", "revenue_usd", "campaign", "receipt_id", "status",
    ),
    "confirmed": ("appsflyer_id", "event_time_utc", "revenue_usd", "receipt_id"),
    "costs": ("date", "campaign", "ad_cost_usd"),
    "sessions": ("date", "user_id", "event_timestamp_utc"),
}
INPUT_FILES: dict[str, str] = {
    "purchases": "purchases_raw.csv",
    "confirmed": "confirmed_purchases.csv",
    "costs": "costs_daily.csv",
    "sessions": "sessions.csv",
}
# Input order survives every stage in this column: it is the last tie-break of dedup and
# reconciliation and the identity that reconciliation_detail.csv and the ground truth use.
SOURCE_ROW = "source_row"


class InputSchemaError(ValueError):
    """An input file is missing, unreadable, or lacks a required column."""

    def __init__(self, file: str, column: str | None, problem: str) -> None:
        self.file = file
        self.column = column
        self.problem = problem
        where = f"{file}: column {column!r}" if column else file
        super().__init__(f"{where}: {problem}")


def _read_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        first = fh.readline()
    return [name.strip() for name in next(csv.reader([first]), [])] if first.strip() else []


def check_schema(path: Path, columns: tuple[str, ...]) -> None:
    if not path.is_file():
        raise InputSchemaError(path.name, None, f"file not found in {path.parent}")
    header = _read_header(path)
    for column in columns:
        if column not in header:
            raise InputSchemaError(path.name, column, f"required column missing (header: {header[:12]})")


def read_input_csv(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read one CSV as text with exactly ``columns`` (plus ``source_row``), or raise InputSchemaError."""
    path = Path(path)
    check_schema(path, columns)
    try:
        frame = pd.read_csv(
            path, engine="pyarrow", dtype=str, usecols=list(columns), keep_default_na=False,
            encoding="utf-8",
        )
    except Exception as exc:  # pyarrow raises several unrelated types for malformed CSV
        raise InputSchemaError(path.name, None, f"not a readable CSV ({exc.__class__.__name__}: {exc})") from exc
    frame = frame[list(columns)]
    frame[SOURCE_ROW] = pd.RangeIndex(len(frame), dtype="int64")
    return frame


def read_inputs(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """All four inputs keyed by source name; every schema is checked before any is parsed."""
    data_dir = Path(data_dir)
    for source, filename in INPUT_FILES.items():
        check_schema(data_dir / filename, INPUT_SCHEMAS[source])
    return {
        source: read_input_csv(data_dir / filename, INPUT_SCHEMAS[source])
        for source, filename in INPUT_FILES.items()
    }


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp_name)


def _write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write via a temp file in the same directory then os.replace, so readers never see half a file."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class AtomicBatch:
    """Several files written to temps beside their targets and renamed into place only once all are written.

    A failure while building any of them leaves every target as it was.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def add(self, path: str | Path, write: Callable[[Path], None]) -> Path:
        """Write one file's temp now (safe to call from several threads)."""
        path = Path(path)
        tmp = _temp_beside(path)
        self._pending.append((tmp, path))  # list.append is atomic
        write(tmp)
        os.chmod(tmp, 0o644)
        return path

    def __enter__(self) -> "AtomicBatch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for tmp, path in self._pending:
                os.replace(tmp, path)
        else:
            for tmp, _ in self._pending:
                tmp.unlink(missing_ok=True)


def json_text(payload: Any) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    return _write_atomic(path, lambda tmp: tmp.write_text(json_text(payload), encoding="utf-8"))


def iso_utc_text(times: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """UTC timestamps as ISO 8601 text with offset (``2025-11-12T10:30:00+00:00``), nulls kept.

    Whole-second data is written without a fraction; otherwise microseconds are kept.
    """
    times = pc.cast(times, pa.timestamp("us", tz="UTC"))
    seconds = pc.cast(times, pa.timestamp("s", tz="UTC"), safe=False)
    if pc.all(pc.equal(pc.cast(seconds, times.type), times)).as_py() is not False:
        times = seconds
    # Casting the zone-less value to text is ~5x faster than strftime, which converts zones per value.
    naive = pc.cast(pc.cast(times, pa.int64()), pa.timestamp(times.type.unit))
    text = pc.replace_substring(pc.cast(naive, pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "+00:00", "")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """CSV through pyarrow's writer (far faster than DataFrame.to_csv on millions of rows); times as ISO text."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(index, column.name, iso_utc_text(table.column(index)))
    pa_csv.write_csv(table, str(path), write_options=pa_csv.WriteOptions(quoting_style="needed"))


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    # LZ4 reads back ~3x cheaper than the default Snappy on these text-heavy work files.
    return _write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False, compression="lz4"))


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)
