"""Reading the four input CSVs with schema checks, and atomic writers for reports.

Inputs are read entirely as text (pyarrow CSV engine, dtype=str) so that normalisation,
not the parser, decides what a revenue like ``1.234,56`` or a bad timestamp means.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

# SPEC §5: the columns each input must carry (extra columns are ignored).
INPUT_SCHEMAS: dict[str, tuple[str, ...]] = {
    "purchases": (
        "appsflyer_id",
        "event_time_utc",
        "event_name",
        "revenue_usd",
        "campaign",
        "receipt_id",
        "status",
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


# At most this many line numbers of skipped rows are listed per file (all are counted).
MAX_LISTED_LINES = 20
# Streaming reads (sharded extract) hold one block of this many bytes at a time.
BLOCK_BYTES = 16 << 20
_BOMS = (  # longest first: a UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
_BLANK_PROBE_BYTES = 1 << 16
_ARROW_ROW = re.compile(r"[Rr]ow #(\d+)")


class InputDataError(ValueError):
    """The input data cannot be used as it is: retrying will not help, the file must be fixed."""


class InputSchemaError(InputDataError):
    """An input file is missing, unreadable, or lacks a required column; names file, column or line."""

    def __init__(self, file: str, column: str | None, problem: str, line: int | None = None) -> None:
        self.file = file
        self.column = column
        self.problem = problem
        self.line = line
        where = file + (f": line {line}" if line else "") + (f": column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")


@dataclass
class CsvInput:
    """One input as read: its rows as text, and the malformed lines skipped to get them."""

    frame: pd.DataFrame
    malformed_rows: int = 0
    malformed_lines: list[int] = field(default_factory=list)


def _encoding_problem(head: bytes) -> str | None:
    for mark, name in _BOMS:
        if head.startswith(mark):
            return f"encoded as {name} (byte-order mark); save it as UTF-8"
    return None


def _first_non_utf8_line(path: Path) -> tuple[int, str] | None:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
    return None


def _read_header(path: Path) -> list[str]:
    """Column names of the first line; InputSchemaError when the file is empty or not UTF-8."""
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        first = fh.readline()
    problem = _encoding_problem(head)
    if problem:
        raise InputSchemaError(path.name, None, problem)
    if not first.removeprefix(_UTF8_BOM).strip():
        with path.open("rb") as fh:
            blank = not fh.read(_BLANK_PROBE_BYTES).removeprefix(_UTF8_BOM).strip()
        empty = blank and path.stat().st_size <= _BLANK_PROBE_BYTES
        raise InputSchemaError(path.name, None, "file is empty" if empty else "no header: line 1 is blank")
    try:
        text = first.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputSchemaError(
            path.name, None, f"not UTF-8 (byte 0x{first[exc.start]:02x}); save it as UTF-8", line=1
        ) from None
    return [name.strip() for name in next(csv.reader([text]), [])]


def check_schema(path: Path, columns: tuple[str, ...]) -> None:
    if not path.is_file():
        raise InputSchemaError(path.name, None, f"file not found in {path.parent}")
    header = _read_header(path)
    for column in columns:
        if column not in header:
            raise InputSchemaError(path.name, column, f"required column missing (header: {header[:12]})")


def _unreadable(path: Path, exc: Exception) -> InputSchemaError:
    """Arrow's parse error as a sentence naming the line, without echoing the raw bytes."""
    message = str(exc)
    if "UTF8" in message or "UTF-8" in message:
        found = _first_non_utf8_line(path)
        if found:
            return InputSchemaError(
                path.name, None, f"not UTF-8 ({found[1]}); save it as UTF-8", line=found[0]
            )
    row = _ARROW_ROW.search(message)
    reason = message.split(":", 1)[0] if ":" in message else message
    return InputSchemaError(
        path.name,
        None,
        f"not a readable CSV ({reason.strip()[:120]})",
        line=int(row.group(1)) if row else None,
    )


def _convert_options(columns: tuple[str, ...], header: list[str]) -> pa_csv.ConvertOptions:
    return pa_csv.ConvertOptions(
        include_columns=list(columns),
        column_types={name: pa.string() for name in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


class _SkippedRows:
    """The parser's invalid-row handler: a row whose field count differs from the header's is
    skipped and its line number (None when a multi-threaded read does not know it) kept."""

    def __init__(self) -> None:
        self.lines: list[int | None] = []

    def __call__(self, row: pa_csv.InvalidRow) -> str:
        self.lines.append(row.number)
        return "skip"

    def listed(self) -> list[int]:
        return sorted(line for line in self.lines if line is not None)[:MAX_LISTED_LINES]


def _parse(
    path: Path, columns: tuple[str, ...], header: list[str], threads: bool
) -> tuple[pa.Table, _SkippedRows]:
    skipped = _SkippedRows()
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=threads),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=skipped),
            convert_options=_convert_options(columns, header),
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    return table, skipped


def read_input_csv(path: str | Path, columns: tuple[str, ...]) -> CsvInput:
    """Read one CSV as text with exactly ``columns`` (plus ``source_row``), or raise InputSchemaError.

    A row whose field count differs from the header's is skipped and its line counted; anything
    else the parser cannot read rejects the file, naming the line where it can.
    """
    path = Path(path)
    check_schema(path, columns)
    header = _read_header(path)
    table, skipped = _parse(path, columns, header, threads=True)
    if (
        None in skipped.lines
    ):  # only a single-threaded read numbers the lines: worth it only when some are bad
        table, skipped = _parse(path, columns, header, threads=False)
    frame = table.to_pandas()[list(columns)]
    frame[SOURCE_ROW] = pd.RangeIndex(len(frame), dtype="int64")
    return CsvInput(frame, len(skipped.lines), skipped.listed())


class CsvStream:
    """One input read block by block under ``read_input_csv``'s rules (bounded memory).

    Iterating yields Arrow tables of exactly ``columns`` as text plus the global ``source_row``;
    once exhausted, ``rows``, ``malformed_rows`` and ``malformed_lines`` are what
    ``read_input_csv`` reports for the same file. A single-threaded streaming read numbers every
    skipped line, so no second pass is needed.
    """

    def __init__(self, path: str | Path, columns: tuple[str, ...], block_bytes: int = BLOCK_BYTES) -> None:
        self.path = Path(path)
        self.columns = columns
        self.block_bytes = block_bytes
        self.rows = 0
        self._skipped = _SkippedRows()
        check_schema(self.path, columns)
        self._header = _read_header(self.path)

    @property
    def malformed_rows(self) -> int:
        return len(self._skipped.lines)

    @property
    def malformed_lines(self) -> list[int]:
        return self._skipped.listed()

    def __iter__(self) -> Iterator[pa.Table]:
        try:
            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=self.block_bytes),
                parse_options=pa_csv.ParseOptions(invalid_row_handler=self._skipped),
                convert_options=_convert_options(self.columns, self._header),
            )
            for batch in reader:
                table = pa.Table.from_batches([batch]).select(list(self.columns))
                source_row = pa.array(np.arange(self.rows, self.rows + table.num_rows, dtype=np.int64))
                self.rows += table.num_rows
                yield table.append_column(SOURCE_ROW, source_row)
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            raise _unreadable(self.path, exc) from None


def read_inputs(data_dir: str | Path) -> dict[str, CsvInput]:
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


def _write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
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

    def add(self, path: str | Path, write: Callable[[Path], object]) -> Path:
        """Write one file's temp now (safe to call from several threads)."""
        path = Path(path)
        tmp = _temp_beside(path)
        self._pending.append((tmp, path))  # list.append is atomic
        write(tmp)
        os.chmod(tmp, 0o644)
        return path

    def __enter__(self) -> AtomicBatch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None:
            self._discard_temps()
            return
        # A rename can still fail (a directory in the way, say): every target renamed so far gets
        # its previous file back from a hard link, so the set changes whole or not at all.
        renamed: list[tuple[Path, Path | None]] = []
        try:
            for tmp, path in self._pending:
                backup = None
                if path.is_file():
                    backup = path.with_name(f".{path.name}.{secrets.token_hex(4)}.previous")
                    os.link(path, backup)
                try:
                    os.replace(tmp, path)
                except BaseException:
                    if backup is not None:
                        backup.unlink()
                    raise
                renamed.append((path, backup))
        except BaseException:
            for path, backup in reversed(renamed):
                if backup is None:
                    path.unlink()
                else:
                    os.replace(backup, path)
            self._discard_temps()
            raise
        for _, backup in renamed:
            if backup is not None:
                backup.unlink()

    def _discard_temps(self) -> None:
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


def write_csv(path: str | Path, frame: pd.DataFrame | pa.Table) -> None:
    """CSV through pyarrow's writer (far faster than DataFrame.to_csv on millions of rows); times as
    ISO text. An Arrow table (read straight from Parquet) skips the round trip through pandas."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(index, column.name, iso_utc_text(table.column(index)))
        elif pa.types.is_dictionary(column.type):  # a categorical column: its labels
            table = table.set_column(index, column.name, table.column(index).cast(column.type.value_type))
    pa_csv.write_csv(table, str(path), write_options=pa_csv.WriteOptions(quoting_style="needed"))


# LZ4 reads back ~3x cheaper than the default Snappy on these text-heavy work files.
PARQUET_COMPRESSION: Literal["lz4"] = "lz4"


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    return _write_atomic(
        path, lambda tmp: frame.to_parquet(tmp, index=False, compression=PARQUET_COMPRESSION)
    )


def read_parquet_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """A work file as Arrow, for writers that never need pandas (the report CSVs)."""
    return pq.read_table(path, columns=columns)


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)
