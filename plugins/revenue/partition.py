"""Hash partitioning for sharded runs (SPEC §6 "Distributed execution").

* ``shard_of``: a stable hash of the normalised key (trimmed ``appsflyer_id`` / ``user_id``) into K
  shards; FNV-1a over the UTF-8 bytes with a splitmix64 finaliser, so every machine and every
  Python process puts a key in the same shard (Python's ``hash()`` is salted per process).
  Purchases and confirmations hash ``appsflyer_id`` and sessions ``user_id`` with the same
  function, so a user's purchases and sessions share a shard (ARPDAU's user = appsflyer_id).
* ``partition_csv``: streams one input CSV in blocks (bounded memory) into K Parquet files,
  every row keeping its global ``source_row``.
* Revenue and ARPDAU partial sums, combined exactly: money is summed as int64 micro-dollars, so
  the total is the same whatever the shard count or the order partials arrive in.
* ``work_location``: ``PIPELINE_WORK_URL`` as a local Path or an Airflow ``ObjectStoragePath``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from revenue.io import BLOCK_BYTES, INPUT_SCHEMAS, SOURCE_ROW, CsvStream

PARTITION_KEYS: dict[str, str] = {
    "purchases": "appsflyer_id",
    "confirmed": "appsflyer_id",
    "sessions": "user_id",
}
WORK_URL_ENV = "PIPELINE_WORK_URL"
MICROS_PER_USD = 1_000_000

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _mix64(value: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: FNV's low bits alone spread short similar ids poorly over K."""
    value = value ^ (value >> np.uint64(30))
    value = value * np.uint64(0xBF58476D1CE4E5B9)
    value = value ^ (value >> np.uint64(27))
    value = value * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = value ^ (value >> np.uint64(31))
    return mixed


def stable_hash64(keys: Iterable[str] | pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit FNV-1a (then mixed) of each key's UTF-8 bytes; null counts as the empty string."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    if not isinstance(keys, pa.Array):
        keys = pa.array(pd.Series(keys, dtype="object").fillna("").astype("str"), type=pa.large_string())
    keys = keys.cast(pa.large_string()).fill_null("")
    count = len(keys)
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64)[keys.offset : keys.offset + count + 1]
    data_buffer = keys.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    # Longest first, so the keys still being hashed at byte j are a prefix of this order.
    order = np.argsort(-lengths, kind="stable")
    starts, sorted_lengths = offsets[:-1][order], lengths[order]
    hashes = np.full(count, _FNV_OFFSET, dtype=np.uint64)
    longest = int(sorted_lengths[0]) if count else 0
    for position in range(longest):
        live = int(np.searchsorted(-sorted_lengths, -position, side="left"))
        hashes[:live] ^= data[starts[:live] + position].astype(np.uint64)
        hashes[:live] *= _FNV_PRIME
    result = np.empty(count, dtype=np.uint64)
    result[order] = _mix64(hashes)
    return result


def normalised_key(text: pd.Series) -> pd.Series:
    """The key as normalise compares it (trimmed), so " a1" and "a1" share a shard."""
    return text.astype("str").fillna("").str.strip()


def shard_of(keys: pd.Series, shards: int) -> np.ndarray:
    """Shard number 0..shards-1 of every key (int64)."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    if shards == 1:
        return np.zeros(len(keys), dtype=np.int64)
    codes, uniques = pd.factorize(normalised_key(pd.Series(keys)), sort=False)
    per_unique = (stable_hash64(pd.Series(uniques, dtype="str")) % np.uint64(shards)).astype(np.int64)
    return per_unique[codes]


def partition_file(location: Any, source: str, shard: int) -> Any:
    """Where shard ``shard`` of ``source`` lives under ``location`` (a Path or ObjectStoragePath)."""
    return location / f"{source}-part-{shard:04d}.parquet"


def partition_csv(
    csv_path: str | Path,
    source: str,
    location: Any,
    shards: int,
    block_bytes: int = BLOCK_BYTES,
    extra_rows: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Stream ``csv_path`` (input ``source``: purchases, confirmed or sessions) into ``shards`` Parquet files.

    Reads one block at a time (never the whole file) under ``read_input_csv``'s rules (malformed
    lines skipped and counted, the same errors), keeps only the SPEC columns as text plus the
    global ``source_row``, and writes every shard's file, empty ones included, so each mapped
    task finds its input. ``extra_rows`` (text in the same columns: postback purchases) follow
    the file's rows. Returns ``{"paths", "rows" (per shard), "total_rows", "malformed_rows",
    "malformed_lines"}``.
    """
    columns = INPUT_SCHEMAS[source]
    stream = CsvStream(csv_path, columns, block_bytes)
    schema = pa.schema([*(pa.field(name, pa.string()) for name in columns), pa.field(SOURCE_ROW, pa.int64())])
    location.mkdir(parents=True, exist_ok=True)
    paths = [partition_file(location, source, shard) for shard in range(shards)]
    handles = [path.open("wb") for path in paths]
    writers = [pq.ParquetWriter(handle, schema, compression="lz4") for handle in handles]
    rows = [0] * shards

    def scatter(table: pa.Table) -> None:
        targets = shard_of(table.column(PARTITION_KEYS[source]).to_pandas(), shards)
        for shard in range(shards):
            picked = np.flatnonzero(targets == shard)
            if len(picked):
                writers[shard].write_table(table.take(pa.array(picked)))
                rows[shard] += len(picked)

    try:
        for table in stream:
            scatter(table)
        total = stream.rows
        if extra_rows is not None and len(extra_rows):
            extra = extra_rows.reindex(columns=list(columns)).fillna("").astype("str")
            extra[SOURCE_ROW] = np.arange(total, total + len(extra), dtype=np.int64)
            scatter(pa.Table.from_pandas(extra, schema=schema, preserve_index=False))
            total += len(extra)
    finally:
        for writer, handle in zip(writers, handles, strict=True):
            writer.close()
            handle.close()
    return {
        "paths": [str(path) for path in paths],
        "rows": rows,
        "total_rows": total,
        "malformed_rows": stream.malformed_rows,
        "malformed_lines": stream.malformed_lines,
    }


def read_partition(path: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """One shard back as the text frame ``read_input_csv`` returns (Path or ObjectStoragePath)."""
    with path.open("rb") as handle:
        frame: pd.DataFrame = pq.read_table(handle, columns=columns).to_pandas()
    return frame


def to_micros(usd: pd.Series | np.ndarray) -> np.ndarray:
    """Dollars as int64 micro-dollars: integer sums are exact and order-free, float sums are not."""
    return np.asarray(np.rint(np.asarray(usd, dtype="float64") * MICROS_PER_USD), dtype=np.int64)


def from_micros(micros: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(micros, dtype=np.int64) / MICROS_PER_USD


def revenue_partials(curated: pd.DataFrame) -> pd.DataFrame:
    """One shard's curated revenue per UTC day and campaign: ``date, campaign, revenue_micros, purchases``."""
    from revenue.roas import campaign_label, utc_day

    keyed = pd.DataFrame(
        {
            "date": utc_day(curated["event_time_utc"]),
            "campaign": campaign_label(curated["campaign"]),
            "revenue_micros": to_micros(curated["revenue_usd"]),
        }
    )
    grouped = keyed.groupby(["date", "campaign"], sort=True)
    return grouped.agg(
        revenue_micros=("revenue_micros", "sum"), purchases=("revenue_micros", "size")
    ).reset_index()


def combine_revenue_partials(partials: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Shards' ``revenue_partials`` summed: ``date, campaign, revenue_usd, purchases``, sorted by
    date and campaign."""
    frames = list(partials)
    combined = (
        pd.concat(frames, ignore_index=True)
        .groupby(["date", "campaign"], sort=True)
        .agg(revenue_micros=("revenue_micros", "sum"), purchases=("purchases", "sum"))
        .reset_index()
    )
    return pd.DataFrame(
        {
            "date": combined["date"],
            "campaign": combined["campaign"],
            "revenue_usd": from_micros(combined["revenue_micros"]),
            "purchases": combined["purchases"].astype("int64"),
        }
    )


def arpdau_partials(curated: pd.DataFrame, sessions: pd.DataFrame, report_date: dt.date) -> pd.DataFrame:
    """One shard's ``campaign, revenue_micros, dau`` on D-1.

    Exact across shards because a user's sessions and purchases share a shard: a user is
    counted active once, in one shard, with the campaign of their earliest purchase.
    """
    from revenue.arpdau import active_user_campaigns, revenue_on_day

    dau = active_user_campaigns(curated, sessions, report_date).value_counts().rename("dau")
    on_day = revenue_on_day(curated, report_date)
    revenue = pd.Series(to_micros(on_day["revenue_usd"]), index=on_day["campaign"].to_numpy())
    revenue = revenue.groupby(level=0).sum().rename("revenue_micros")
    table = pd.concat([revenue, dau], axis=1).fillna(0).astype("int64")
    return table.rename_axis("campaign").reset_index()


def combine_arpdau_partials(partials: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Shards' ``arpdau_partials`` as the ARPDAU table: ``campaign, revenue_usd, dau, arpdau`` then ALL."""
    from revenue.arpdau import arpdau_table

    frames = list(partials)
    summed = (
        pd.concat(frames, ignore_index=True).groupby("campaign", sort=True)[["revenue_micros", "dau"]].sum()
    )
    revenue = pd.Series(from_micros(summed["revenue_micros"]), index=summed.index, dtype="float64")
    # ALL from the exact total, not a float sum of the per-campaign values.
    total = float(from_micros(np.array([summed["revenue_micros"].sum()]))[0])
    return arpdau_table(revenue, summed["dau"].astype("int64"), all_revenue=total)


def work_location(url: str | None = None) -> Any:
    """``PIPELINE_WORK_URL`` (or ``url``): a plain path or ``file://`` URL -> Path, else ObjectStoragePath.

    ObjectStoragePath comes from Airflow's task SDK and resolves s3://, gs://, ... through the
    matching Airflow connection (``s3://conn_id@bucket/prefix``), so workers share it without
    code changes.
    """
    url = url if url is not None else os.environ.get(WORK_URL_ENV, "")
    if not url:
        raise ValueError(f"{WORK_URL_ENV} is not set")
    if "://" not in url:
        return Path(url)
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)
