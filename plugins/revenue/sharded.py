"""Sharded stages (SPEC §6 "Distributed execution"): the pipeline over K hash partitions.

``extract`` streams the keyed inputs into K partitions (revenue.partition), normalises the small
cost table once and collects the chargebacked receipts once for every shard. The per-shard
stages read only their partition and write into ``shard-NNNN/`` under the work location; each
is what one mapped Airflow task instance (or one step of the CLI's loop) runs. The ``combine_*``
functions then turn the shards' outputs into exactly the work files the unsharded stages write,
so ``reports.write_reports`` publishes byte-identical reports for every K:

* purchases are sharded by appsflyer_id, so dedup (keyed on it), reconciliation (within one
  appsflyer_id) and each user's earliest purchase (user_id = appsflyer_id) are exact per shard;
* ROAS and ARPDAU combine int64 micro-dollar partial sums (order-free), and the anomaly baseline
  is computed on the combined daily table;
* each shard saves its curated rows and reconciliation records in input order, and the combines
  merge the shards' files k-way a record batch at a time (work.merge_sorted), so publish never
  holds them whole; drop counts are summed per source and reason in rule order.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from revenue import dedup as dedup_stage
from revenue import normalise as normalise_stage
from revenue import reconcile as reconcile_stage
from revenue import roas as roas_stage
from revenue import stages
from revenue.io import INPUT_FILES, INPUT_SCHEMAS, SOURCE_ROW, check_schema, read_input_csv
from revenue.partition import (
    PARTITION_KEYS,
    WORK_URL_ENV,
    arpdau_partials,
    combine_arpdau_partials,
    combine_revenue_partials,
    partition_csv,
    partition_file,
    read_partition,
    revenue_partials,
    work_location,
)
from revenue.work import BATCH_ROWS, as_location, load_frame, load_meta, merge_sorted, save_frame, save_meta

SUMMARY_COLUMNS = ["category", "af_revenue_usd", "confirmed_revenue_usd", "revenue_mismatch"]

Location = Any  # a Path or an Airflow ObjectStoragePath


def shard_dir(location: Location, shard: int) -> Location:
    return as_location(location) / f"shard-{shard:04d}"


def extract(
    data_dir: str | Path,
    location: Location,
    shards: int,
    postback_purchases: pd.DataFrame | None = None,
    report_date: str | dt.date | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Partition purchases (with the postback purchases), confirmations and sessions; normalise costs;
    collect chargebacked receipts; settle the report date. Every schema is checked before any read."""
    location, data_dir = as_location(location), Path(data_dir)
    location.mkdir(parents=True, exist_ok=True)
    for source, filename in INPUT_FILES.items():
        check_schema(data_dir / filename, INPUT_SCHEMAS[source])
    rows: dict[str, int] = {}
    malformed: dict[str, dict[str, Any]] = {}
    for source, filename in INPUT_FILES.items():  # the unsharded read order: the same first error
        if source in PARTITION_KEYS:
            extra = postback_purchases if source == "purchases" else None
            part = partition_csv(data_dir / filename, source, location, shards, extra_rows=extra)
            rows[source], skipped, lines = part["total_rows"], part["malformed_rows"], part["malformed_lines"]
        else:
            costs = read_input_csv(data_dir / filename, INPUT_SCHEMAS[source])
            rows[source], skipped, lines = len(costs.frame), costs.malformed_rows, costs.malformed_lines
            kept, dropped = normalise_stage.split_dropped(stages.NORMALISERS[source](costs.frame), source)
            save_frame(location, "normalised_costs", kept)
            save_frame(location, "drops_costs", dropped)
        if skipped:
            malformed[source] = {"rows": skipped, "lines": lines}
    rows["postbacks"] = 0 if postback_purchases is None else len(postback_purchases)
    day, default_reason = stages.report_date_or_latest_cost_day(
        report_date, load_frame(location, "normalised_costs")
    )
    save_frame(location, "chargeback_receipts", _chargeback_receipts(location, shards))
    return save_meta(
        location,
        "extract",
        {
            "rows": rows,
            "malformed": malformed,
            "shards": shards,
            "date": day.isoformat(),
            "dateReason": reason or default_reason,
        },
    )


def _chargeback_receipts(location: Location, shards: int) -> pd.DataFrame:
    """Every shard's chargebacked receipts, once: a receipt may be charged back under another appsflyer_id."""
    found = [
        normalise_stage.chargeback_receipts(
            read_partition(partition_file(location, "purchases", k), ["status", "receipt_id"])
        )
        for k in range(shards)
    ]
    return pd.concat(found, ignore_index=True).drop_duplicates(ignore_index=True)


def normalise_shard(location: Location, shard: int) -> dict[str, Any]:
    out = shard_dir(location, shard)
    out.mkdir(parents=True, exist_ok=True)
    drops, rows = [], {}
    for source in PARTITION_KEYS:
        raw = read_partition(partition_file(as_location(location), source, shard))
        kept, dropped = normalise_stage.split_dropped(stages.NORMALISERS[source](raw), source, keep_zero=True)
        save_frame(out, f"normalised_{source}", kept)
        drops.append(dropped)
        rows[source] = len(kept)
    save_frame(out, "drops_normalise", pd.concat(drops, ignore_index=True))
    return {"shard": shard, "rows": rows}


def dedup_shard(location: Location, shard: int) -> dict[str, Any]:
    out = shard_dir(location, shard)
    purchases = load_frame(out, "normalised_purchases")
    unique, dropped = normalise_stage.split_dropped(
        dedup_stage.dedup_purchases(purchases), "purchases", keep_zero=True
    )
    curated = dedup_stage.flag_chargebacks(unique, load_frame(location, "chargeback_receipts"))
    # In input order, so that publish can merge the shards' files without loading them.
    curated = curated.sort_values(SOURCE_ROW, kind="stable", ignore_index=True)
    save_frame(out, "curated_purchases", curated, row_group_rows=BATCH_ROWS)
    save_frame(out, "drops_dedup", dropped)
    return {
        "shard": shard,
        "rows": {"in": len(purchases), "out": len(curated)},
        "chargebacks": int(curated["chargeback"].sum()),
    }


def reconcile_shard(location: Location, shard: int, tolerance_minutes: float) -> dict[str, Any]:
    out = shard_dir(location, shard)
    detail = reconcile_stage.reconcile(
        load_frame(out, "curated_purchases", stages.FOR_RECONCILE),
        load_frame(out, "normalised_confirmed"),
        tolerance_minutes,
    )
    order = np.argsort(detail_order(pa.Table.from_pandas(detail, preserve_index=False)), kind="stable")
    detail = detail.take(order).reset_index(drop=True)
    save_frame(out, "reconciliation_detail", detail, row_group_rows=BATCH_ROWS)
    counts = detail["category"].value_counts(sort=False)
    return {
        "shard": shard,
        "records": {category: int(counts[category]) for category in reconcile_stage.CATEGORIES},
    }


def roas_shard(location: Location, shard: int) -> dict[str, Any]:
    out = shard_dir(location, shard)
    partials = revenue_partials(load_frame(out, "curated_purchases", stages.FOR_METRICS))
    save_frame(out, "revenue_partials", partials)
    return {"shard": shard, "dayCampaigns": len(partials)}


def arpdau_shard(location: Location, shard: int, report_date: str) -> dict[str, Any]:
    out = shard_dir(location, shard)
    partials = arpdau_partials(
        load_frame(out, "curated_purchases", stages.FOR_METRICS),
        load_frame(out, "normalised_sessions"),
        dt.date.fromisoformat(report_date),
    )
    save_frame(out, "arpdau_partials", partials)
    return {"shard": shard, "dau": int(partials["dau"].sum())}


def _shard_frames(
    location: Location, shards: int, name: str, columns: list[str] | None = None
) -> pd.DataFrame:
    frames = [load_frame(shard_dir(location, k), name, columns) for k in range(shards)]
    # An empty shard's frame may carry object dtypes; leaving it out keeps the others' types.
    filled = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(filled, ignore_index=True)


def detail_order(detail: pa.Table) -> np.ndarray:
    """The unsharded order of reconciliation records as one int64 key: AppsFlyer records by input
    row, then unmatched confirmed ones by theirs (input rows below 2**30)."""
    af_row = pc.fill_null(detail.column("af_source_row"), -1).to_numpy().astype("int64")
    confirmed_row = pc.fill_null(detail.column("confirmed_source_row"), -1).to_numpy().astype("int64")
    confirmed_only = (af_row < 0).astype("int64")
    key: np.ndarray = (confirmed_only << 61) | ((af_row + 1) << 30) | (confirmed_row + 1)
    return key


def input_order(curated: pa.Table) -> np.ndarray:
    key: np.ndarray = curated.column(SOURCE_ROW).to_numpy().astype("int64")
    return key


def combine_reconcile(
    location: Location, shards: int, out: Location, tolerance_minutes: float
) -> dict[str, Any]:
    """The shards' records merged in the unsharded order (each shard's are already in it)."""
    shard_dirs = [shard_dir(location, k) for k in range(shards)]
    merge_sorted(shard_dirs, "reconciliation_detail", as_location(out), detail_order)
    # The summary's revenue sums are taken over the merged columns in record order, as unsharded.
    summary = reconcile_stage.summarise(load_frame(out, "reconciliation_detail", SUMMARY_COLUMNS))
    return save_meta(out, "reconcile", {"toleranceMinutes": float(tolerance_minutes), "summary": summary})


def combine_roas(location: Location, shards: int, out: Location) -> dict[str, Any]:
    extract_meta = load_meta(location, "extract")
    revenue = combine_revenue_partials(
        load_frame(shard_dir(location, k), "revenue_partials") for k in range(shards)
    )
    daily = roas_stage.daily_roas_from_revenue(revenue, load_frame(location, "normalised_costs"))
    day = dt.date.fromisoformat(extract_meta["date"])
    verdicts = roas_stage.roas_anomalies(daily, day)
    save_frame(out, "roas_daily", daily)
    save_frame(out, "roas_d1", verdicts)
    return save_meta(out, "roas", stages.roas_meta(verdicts, day, extract_meta["dateReason"]))


def combine_arpdau(location: Location, shards: int, out: Location) -> dict[str, Any]:
    extract_meta = load_meta(location, "extract")
    table = combine_arpdau_partials(
        load_frame(shard_dir(location, k), "arpdau_partials") for k in range(shards)
    )
    save_frame(out, "arpdau_d1", table)
    day = dt.date.fromisoformat(extract_meta["date"])
    return save_meta(out, "arpdau", stages.arpdau_meta(table, day, extract_meta["dateReason"]))


def combine_drops(drops: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Drop counts summed per source and reason; every shard lists every reason (zeros too) in rule
    order, so first appearance is rule order, as in an unsharded run."""
    rows = pd.concat(list(drops), ignore_index=True).groupby(["source", "reason"], sort=False)["rows"].sum()
    summed = rows[rows > 0].reset_index()
    return pd.DataFrame(
        {
            "source": summed["source"].astype("str"),
            "reason": summed["reason"].astype("str"),
            "rows": summed["rows"].astype("int64"),
        }
    )


def combine_rest(location: Location, shards: int, out: Location) -> dict[str, Any]:
    """Curated purchases in input order, drop counts, and the extract figures, where write_reports
    reads them."""
    merge_sorted(
        [shard_dir(location, k) for k in range(shards)], "curated_purchases", as_location(out), input_order
    )
    normalise_drops = _shard_frames(location, shards, "drops_normalise")
    by_source = [
        load_frame(location, "drops_costs")
        if source == "costs"
        else normalise_drops[normalise_drops["source"] == source]
        for source in stages.SOURCES
    ]
    save_frame(out, "drops_normalise", combine_drops(by_source))
    save_frame(out, "drops_dedup", combine_drops([_shard_frames(location, shards, "drops_dedup")]))
    return save_meta(out, "extract", load_meta(location, "extract"))


def combine(location: Location, shards: int, out: Location, tolerance_minutes: float) -> dict[str, Any]:
    """Every combine, for a publish that runs after all shards (the DAG's)."""
    return {
        "reconcile": combine_reconcile(location, shards, out, tolerance_minutes),
        "roas_anomaly": combine_roas(location, shards, out),
        "arpdau": combine_arpdau(location, shards, out),
        "extract": combine_rest(location, shards, out),
    }


def _each_shard(shards: int, stage: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """One shard after another: memory follows the largest shard, not the input."""
    return [stage(shard) for shard in range(shards)]


def _summed_rows(results: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for result in results:
        for key, value in result["rows"].items():
            total[key] = total.get(key, 0) + value
    return total


def stage_calls(
    data_dir: str | Path,
    reports_dir: str | Path,
    work: Path,
    report_date: str | None,
    postback_purchases: pd.DataFrame | None,
    tolerance_minutes: float,
    shards: int,
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The CLI's sharded run: the DAG's stages with each mapped stage looping over the shards and
    the combines done as soon as their inputs exist, so every stage reports what the unsharded one does."""

    def normalise() -> dict[str, Any]:
        rows = _summed_rows(_each_shard(shards, lambda k: normalise_shard(work, k)))
        costs = len(load_frame(work, "normalised_costs", [SOURCE_ROW]))
        return {
            "rows": {
                "purchases": rows["purchases"],
                "confirmed": rows["confirmed"],
                "costs": costs,
                "sessions": rows["sessions"],
            }
        }

    def dedup() -> dict[str, Any]:
        results = _each_shard(shards, lambda k: dedup_shard(work, k))
        return {
            "rows": _summed_rows(results),
            "chargebacks": sum(result["chargebacks"] for result in results),
        }

    def reconcile() -> dict[str, Any]:
        _each_shard(shards, lambda k: reconcile_shard(work, k, tolerance_minutes))
        return combine_reconcile(work, shards, work, tolerance_minutes)

    def roas_anomaly() -> dict[str, Any]:
        _each_shard(shards, lambda k: roas_shard(work, k))
        return combine_roas(work, shards, work)

    def arpdau() -> dict[str, Any]:
        day = load_meta(work, "extract")["date"]
        _each_shard(shards, lambda k: arpdau_shard(work, k, day))
        return combine_arpdau(work, shards, work)

    def publish() -> dict[str, Any]:
        combine_rest(work, shards, work)
        return stages.publish(work, reports_dir)

    return [
        ("extract", lambda: extract(data_dir, work, shards, postback_purchases, report_date)),
        ("normalise", normalise),
        ("dedup", dedup),
        ("reconcile", reconcile),
        ("roas_anomaly", roas_anomaly),
        ("arpdau", arpdau),
        ("publish", publish),
    ]


def run_location(work_dir: Path, run_id: str) -> Location:
    """Where a run's partitions live: ``PIPELINE_WORK_URL``/<run folder name> when set, else ``work_dir``."""
    if not os.environ.get(WORK_URL_ENV):
        return work_dir
    return work_location() / Path(work_dir).name


def combine_for_publish(
    location: Location, shards: int, local_dir: str | Path, tolerance_minutes: float
) -> Path:
    """Every combine into a local folder (the location itself when local), for ``stages.publish``."""
    location = as_location(location)
    out = location if isinstance(location, Path) else Path(local_dir)
    out.mkdir(parents=True, exist_ok=True)
    combine(location, shards, out, tolerance_minutes)
    return out


def remove_location(location: Location) -> None:
    """A finished run's partitions and shard files, local or in object storage."""
    location = as_location(location)
    if isinstance(location, Path):
        shutil.rmtree(location, ignore_errors=True)
    elif location.exists():
        location.fs.rm(location.path, recursive=True)
