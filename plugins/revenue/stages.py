"""Stage runner: each stage reads Parquet from work_dir, calls the pure stage functions, writes Parquet.

Every function takes plain paths and returns a small JSON-serialisable dict (safe for XCom);
DataFrames never cross a stage boundary. Only ``publish`` writes into the reports directory,
so a failure in any earlier stage leaves the previous reports untouched.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from revenue import arpdau as arpdau_stage
from revenue import dedup as dedup_stage
from revenue import normalise as normalise_stage
from revenue import reconcile as reconcile_stage
from revenue import roas as roas_stage
from revenue.dates import GIVEN, LATEST_COST_DATE, REASONS
from revenue.io import INPUT_SCHEMAS, SOURCE_ROW, InputDataError, read_inputs
from revenue.params import DEFAULT_TOLERANCE_MINUTES
from revenue.work import load_frame, save_frame, save_meta

SOURCES = ("purchases", "confirmed", "costs", "sessions")
NORMALISERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "purchases": normalise_stage.normalise_purchases,
    "confirmed": normalise_stage.normalise_confirmed,
    "costs": normalise_stage.normalise_costs,
    "sessions": normalise_stage.normalise_sessions,
}


# What the later stages read of the curated purchases (skipping unused text columns is most of their I/O).
FOR_RECONCILE = [
    "appsflyer_id",
    "event_time_utc",
    "original_revenue_usd",
    SOURCE_ROW,
    "receipt_id",
    "campaign",
    "chargeback",
]
FOR_METRICS = ["appsflyer_id", "event_time_utc", "revenue_usd", "campaign", SOURCE_ROW]


def extract(
    data_dir: str | Path, work_dir: str | Path, postback_purchases: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Read and schema-check the four CSVs, append postback purchases, write raw_*.parquet."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    read = read_inputs(data_dir)
    inputs = {source: csv_input.frame for source, csv_input in read.items()}
    postbacks = 0
    if postback_purchases is not None and len(postback_purchases):
        columns = list(INPUT_SCHEMAS["purchases"])
        extra = postback_purchases.reindex(columns=columns).fillna("").astype("str")
        extra[SOURCE_ROW] = pd.RangeIndex(len(extra), dtype="int64") + len(inputs["purchases"])
        inputs["purchases"] = pd.concat([inputs["purchases"], extra], ignore_index=True)
        postbacks = len(extra)
    with ThreadPoolExecutor(max_workers=2) as pool:  # Parquet writes release the GIL
        for job in [
            pool.submit(save_frame, work_dir, f"raw_{source}", frame) for source, frame in inputs.items()
        ]:
            job.result()
    rows = {source: len(frame) for source, frame in inputs.items()}
    malformed = {
        source: {"rows": csv_input.malformed_rows, "lines": csv_input.malformed_lines}
        for source, csv_input in read.items()
        if csv_input.malformed_rows
    }
    return save_meta(work_dir, "extract", {"rows": {**rows, "postbacks": postbacks}, "malformed": malformed})


def normalise(work_dir: str | Path) -> dict[str, Any]:
    """Type every input, drop (and count by reason) what SPEC §5.1 rejects; collect chargebacked receipts."""
    drops, rows_out, writes = [], {}, []
    # Each source's Parquet write overlaps the next source's normalisation.
    with ThreadPoolExecutor(max_workers=1) as pool:
        for source in SOURCES:
            raw = load_frame(work_dir, f"raw_{source}")
            if source == "purchases":
                save_frame(work_dir, "chargeback_receipts", normalise_stage.chargeback_receipts(raw))
            kept, dropped = normalise_stage.split_dropped(NORMALISERS[source](raw), source)
            writes.append(pool.submit(save_frame, work_dir, f"normalised_{source}", kept))
            drops.append(dropped)
            rows_out[source] = len(kept)
        for job in writes:
            job.result()
    all_drops = pd.concat(drops, ignore_index=True)
    save_frame(work_dir, "drops_normalise", all_drops)
    return save_meta(work_dir, "normalise", {"rows": rows_out, "dropped": _drop_dict(all_drops)})


def dedup(work_dir: str | Path) -> dict[str, Any]:
    """Composite-key de-duplication, then chargeback flagging -> curated_purchases.parquet."""
    purchases = load_frame(work_dir, "normalised_purchases")
    unique, dropped = normalise_stage.split_dropped(dedup_stage.dedup_purchases(purchases), "purchases")
    curated = dedup_stage.flag_chargebacks(unique, load_frame(work_dir, "chargeback_receipts"))
    save_frame(work_dir, "curated_purchases", curated)
    save_frame(work_dir, "drops_dedup", dropped)
    return save_meta(
        work_dir,
        "dedup",
        {
            "rows": {"in": len(purchases), "out": len(curated)},
            "dropped": _drop_dict(dropped),
            "chargebacks": int(curated["chargeback"].sum()),
        },
    )


def reconcile(work_dir: str | Path, tolerance_minutes: float = DEFAULT_TOLERANCE_MINUTES) -> dict[str, Any]:
    """One-to-one reconciliation -> reconciliation_detail.parquet; returns the category summary."""
    detail = reconcile_stage.reconcile(
        load_frame(work_dir, "curated_purchases", FOR_RECONCILE),
        load_frame(work_dir, "normalised_confirmed"),
        tolerance_minutes,
    )
    save_frame(work_dir, "reconciliation_detail", detail)
    summary = reconcile_stage.summarise(detail)
    return save_meta(
        work_dir, "reconcile", {"toleranceMinutes": float(tolerance_minutes), "summary": summary}
    )


def report_date_or_latest_cost_day(
    report_date: str | dt.date | None, costs: pd.DataFrame
) -> tuple[dt.date, str]:
    """(D-1, why): the given day, else the latest day the normalised costs cover (SPEC §6)."""
    if isinstance(report_date, dt.date):
        return report_date, GIVEN
    if report_date:
        return dt.date.fromisoformat(str(report_date)), GIVEN
    latest = roas_stage.latest_cost_date(costs)
    if latest is None:
        raise InputDataError("costs_daily.csv: no usable cost rows, so no default report date; give a date")
    return latest, LATEST_COST_DATE


def _date_fields(day: dt.date, reason: str) -> dict[str, str]:
    return {"date": day.isoformat(), "dateReason": reason, "dateWhy": REASONS[reason]}


def roas_anomaly(work_dir: str | Path, report_date: str | None, reason: str | None = None) -> dict[str, Any]:
    """Daily ROAS per campaign, the D-1 rows and their anomaly verdicts.

    ``reason`` says why a given ``report_date`` was chosen (a scheduled run's interval, say).
    """
    curated, costs = (
        load_frame(work_dir, "curated_purchases", FOR_METRICS),
        load_frame(work_dir, "normalised_costs"),
    )
    day, default_reason = report_date_or_latest_cost_day(report_date, costs)
    daily = roas_stage.daily_roas(curated, costs)
    verdicts = roas_stage.roas_anomalies(daily, day)
    save_frame(work_dir, "roas_daily", daily)
    save_frame(work_dir, "roas_d1", verdicts)
    return save_meta(work_dir, "roas", roas_meta(verdicts, day, reason or default_reason))


def roas_meta(verdicts: pd.DataFrame, day: dt.date, reason: str) -> dict[str, Any]:
    anomalies = verdicts[verdicts["status"] == roas_stage.ANOMALY]
    return {
        **_date_fields(day, reason),
        "campaigns": len(verdicts),
        "anomalies": len(anomalies),
        "critical": int((anomalies["severity"] == "critical").sum()),
    }


def arpdau(work_dir: str | Path, report_date: str | None, reason: str | None = None) -> dict[str, Any]:
    """ARPDAU per campaign on D-1 with ORGANIC and ALL rows."""
    curated, costs = (
        load_frame(work_dir, "curated_purchases", FOR_METRICS),
        load_frame(work_dir, "normalised_costs"),
    )
    day, default_reason = report_date_or_latest_cost_day(report_date, costs)
    table = arpdau_stage.arpdau_d1(curated, load_frame(work_dir, "normalised_sessions"), day)
    save_frame(work_dir, "arpdau_d1", table)
    return save_meta(work_dir, "arpdau", arpdau_meta(table, day, reason or default_reason))


def arpdau_meta(table: pd.DataFrame, day: dt.date, reason: str) -> dict[str, Any]:
    everyone = table[table["campaign"] == arpdau_stage.ALL].iloc[0]
    return {
        **_date_fields(day, reason),
        "campaigns": len(table) - 1,
        "dau": int(everyone["dau"]),
        "arpdau": None if pd.isna(everyone["arpdau"]) else round(float(everyone["arpdau"]), 6),
    }


def publish(work_dir: str | Path, reports_dir: str | Path) -> dict[str, Any]:
    """Write the seven report files of SPEC §5 into reports_dir, each atomically."""
    from revenue.reports import write_reports  # matplotlib is only needed here

    return write_reports(work_dir, reports_dir)


def _drop_dict(drops: pd.DataFrame) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for source, reason, rows in drops[["source", "reason", "rows"]].itertuples(index=False, name=None):
        by_reason = result.setdefault(str(source), {})
        by_reason[str(reason)] = by_reason.get(str(reason), 0) + int(rows)
    return result


StageObserver = Callable[[str, dict[str, Any] | None], None]


def run_all(
    data_dir: str | Path,
    reports_dir: str | Path,
    report_date: str | None = None,
    postback_purchases: pd.DataFrame | None = None,
    work_dir: str | Path | None = None,
    tolerance_minutes: float = DEFAULT_TOLERANCE_MINUTES,
    on_stage: StageObserver | None = None,
    shards: int | None = None,
) -> dict[str, Any]:
    """Every stage in order (a temporary work_dir by default); returns each stage's result and timings.

    ``on_stage(name, None)`` is called as a stage starts and ``on_stage(name, result)`` when it ends.
    ``shards`` (1 included) runs the sharded stages (revenue.sharded), one shard after another.
    """
    with tempfile.TemporaryDirectory(prefix="revenue-work-") as scratch:
        work = Path(work_dir) if work_dir is not None else Path(scratch)
        if shards is not None:
            from revenue import sharded

            calls = sharded.stage_calls(
                data_dir, reports_dir, work, report_date, postback_purchases, tolerance_minutes, shards
            )
        else:
            calls = stage_calls(
                data_dir, reports_dir, work, report_date, postback_purchases, tolerance_minutes
            )
        results: dict[str, Any] = {"stages": {}, "seconds": {}}
        for name, call in calls:
            if on_stage:
                on_stage(name, None)
            started = time.perf_counter()
            results["stages"][name] = call()
            results["seconds"][name] = round(time.perf_counter() - started, 3)
            if on_stage:
                on_stage(name, results["stages"][name])
        results["seconds"]["total"] = round(sum(results["seconds"].values()), 3)
        return results


def stage_calls(
    data_dir: str | Path,
    reports_dir: str | Path,
    work: Path,
    report_date: str | None,
    postback_purchases: pd.DataFrame | None,
    tolerance_minutes: float,
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The stages in the order the DAG runs them, bound to one work folder."""
    return [
        ("extract", lambda: extract(data_dir, work, postback_purchases)),
        ("normalise", lambda: normalise(work)),
        ("dedup", lambda: dedup(work)),
        ("reconcile", lambda: reconcile(work, tolerance_minutes)),
        ("roas_anomaly", lambda: roas_anomaly(work, report_date)),
        ("arpdau", lambda: arpdau(work, report_date)),
        ("publish", lambda: publish(work, reports_dir)),
    ]
