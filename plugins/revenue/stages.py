"""Stage runner: each stage reads Parquet from work_dir, calls the pure stage functions, writes Parquet.

Every function takes plain paths and returns a small JSON-serialisable dict (safe for XCom);
DataFrames never cross a stage boundary. Only ``publish`` writes into the reports directory,
so a failure in any earlier stage leaves the previous reports untouched.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from revenue import arpdau as arpdau_stage
from revenue import dedup as dedup_stage
from revenue import normalise as normalise_stage
from revenue import reconcile as reconcile_stage
from revenue import roas as roas_stage
from revenue.io import INPUT_SCHEMAS, SOURCE_ROW, read_inputs, read_parquet, write_json_atomic, write_parquet

SOURCES = ("purchases", "confirmed", "costs", "sessions")
_NORMALISERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "purchases": normalise_stage.normalise_purchases,
    "confirmed": normalise_stage.normalise_confirmed,
    "costs": normalise_stage.normalise_costs,
    "sessions": normalise_stage.normalise_sessions,
}


def _path(work_dir: str | Path, name: str) -> Path:
    return Path(work_dir) / name


def _save(work_dir: str | Path, name: str, frame: pd.DataFrame) -> None:
    write_parquet(_path(work_dir, f"{name}.parquet"), frame)


def _load(work_dir: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = _path(work_dir, f"{name}.parquet")
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run the stage that produces {name!r} first")
    return read_parquet(path, columns)


# What the later stages read of the curated purchases (skipping unused text columns is most of their I/O).
_FOR_RECONCILE = ["appsflyer_id", "event_time_utc", "original_revenue_usd", SOURCE_ROW, "receipt_id", "campaign",
                  "chargeback"]
_FOR_METRICS = ["appsflyer_id", "event_time_utc", "revenue_usd", "campaign", SOURCE_ROW]


def _save_meta(work_dir: str | Path, name: str, meta: dict) -> dict:
    write_json_atomic(_path(work_dir, f"{name}.json"), meta)
    return meta


def load_meta(work_dir: str | Path, name: str) -> dict:
    return json.loads(_path(work_dir, f"{name}.json").read_text(encoding="utf-8"))


def extract(data_dir: str | Path, work_dir: str | Path, postback_purchases: pd.DataFrame | None = None) -> dict:
    """Read and schema-check the four CSVs, append postback purchases, write raw_*.parquet."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    inputs = read_inputs(data_dir)
    postbacks = 0
    if postback_purchases is not None and len(postback_purchases):
        columns = list(INPUT_SCHEMAS["purchases"])
        extra = postback_purchases.reindex(columns=columns).fillna("").astype("str")
        extra[SOURCE_ROW] = pd.RangeIndex(len(extra), dtype="int64") + len(inputs["purchases"])
        inputs["purchases"] = pd.concat([inputs["purchases"], extra], ignore_index=True)
        postbacks = len(extra)
    with ThreadPoolExecutor(max_workers=2) as pool:  # Parquet writes release the GIL
        for job in [pool.submit(_save, work_dir, f"raw_{source}", frame) for source, frame in inputs.items()]:
            job.result()
    rows = {source: len(frame) for source, frame in inputs.items()}
    return _save_meta(work_dir, "extract", {"rows": {**rows, "postbacks": postbacks}})


def normalise(work_dir: str | Path) -> dict:
    """Type every input, drop (and count by reason) what SPEC §5.1 rejects; collect chargebacked receipts."""
    drops, rows_out, writes = [], {}, []
    # Each source's Parquet write overlaps the next source's normalisation.
    with ThreadPoolExecutor(max_workers=1) as pool:
        for source in SOURCES:
            raw = _load(work_dir, f"raw_{source}")
            if source == "purchases":
                _save(work_dir, "chargeback_receipts", normalise_stage.chargeback_receipts(raw))
            kept, dropped = normalise_stage.split_dropped(_NORMALISERS[source](raw), source)
            writes.append(pool.submit(_save, work_dir, f"normalised_{source}", kept))
            drops.append(dropped)
            rows_out[source] = len(kept)
        for job in writes:
            job.result()
    all_drops = pd.concat(drops, ignore_index=True)
    _save(work_dir, "drops_normalise", all_drops)
    return _save_meta(work_dir, "normalise", {"rows": rows_out, "dropped": _drop_dict(all_drops)})


def dedup(work_dir: str | Path) -> dict:
    """Composite-key de-duplication, then chargeback flagging -> curated_purchases.parquet."""
    purchases = _load(work_dir, "normalised_purchases")
    unique, dropped = normalise_stage.split_dropped(dedup_stage.dedup_purchases(purchases), "purchases")
    curated = dedup_stage.flag_chargebacks(unique, _load(work_dir, "chargeback_receipts"))
    _save(work_dir, "curated_purchases", curated)
    _save(work_dir, "drops_dedup", dropped)
    return _save_meta(work_dir, "dedup", {
        "rows": {"in": len(purchases), "out": len(curated)},
        "dropped": _drop_dict(dropped),
        "chargebacks": int(curated["chargeback"].sum()),
    })


def reconcile(work_dir: str | Path, tolerance_minutes: float = 10) -> dict:
    """One-to-one reconciliation -> reconciliation_detail.parquet; returns the category summary."""
    detail = reconcile_stage.reconcile(
        _load(work_dir, "curated_purchases", _FOR_RECONCILE), _load(work_dir, "normalised_confirmed"),
        tolerance_minutes,
    )
    _save(work_dir, "reconciliation_detail", detail)
    summary = reconcile_stage.summarise(detail)
    return _save_meta(work_dir, "reconcile", {"toleranceMinutes": float(tolerance_minutes), "summary": summary})


def resolve_report_date(report_date: str | dt.date | None, costs: pd.DataFrame, curated: pd.DataFrame) -> dt.date:
    """The given D-1, else the latest cost date (else the latest purchase day)."""
    if isinstance(report_date, dt.date):
        return report_date
    if report_date:
        return dt.date.fromisoformat(str(report_date))
    latest = roas_stage.latest_cost_date(costs, curated)
    if latest is None:
        raise ValueError("no report date given and no cost or purchase data to infer one from")
    return latest


def roas_anomaly(work_dir: str | Path, report_date: str | None) -> dict:
    """Daily ROAS per campaign, the D-1 rows and their anomaly verdicts."""
    curated, costs = _load(work_dir, "curated_purchases", _FOR_METRICS), _load(work_dir, "normalised_costs")
    day = resolve_report_date(report_date, costs, curated)
    daily = roas_stage.daily_roas(curated, costs)
    verdicts = roas_stage.roas_anomalies(daily, day)
    _save(work_dir, "roas_daily", daily)
    _save(work_dir, "roas_d1", verdicts)
    anomalies = verdicts[verdicts["status"] == roas_stage.ANOMALY]
    return _save_meta(work_dir, "roas", {
        "date": day.isoformat(),
        "campaigns": len(verdicts),
        "anomalies": len(anomalies),
        "critical": int((anomalies["severity"] == "critical").sum()),
    })


def arpdau(work_dir: str | Path, report_date: str | None) -> dict:
    """ARPDAU per campaign on D-1 with ORGANIC and ALL rows."""
    curated, costs = _load(work_dir, "curated_purchases", _FOR_METRICS), _load(work_dir, "normalised_costs")
    day = resolve_report_date(report_date, costs, curated)
    table = arpdau_stage.arpdau_d1(curated, _load(work_dir, "normalised_sessions"), day)
    _save(work_dir, "arpdau_d1", table)
    everyone = table[table["campaign"] == arpdau_stage.ALL].iloc[0]
    return _save_meta(work_dir, "arpdau", {
        "date": day.isoformat(),
        "campaigns": len(table) - 1,
        "dau": int(everyone["dau"]),
        "arpdau": None if pd.isna(everyone["arpdau"]) else round(float(everyone["arpdau"]), 6),
    })


def publish(work_dir: str | Path, reports_dir: str | Path) -> dict:
    """Write the seven report files of SPEC §5 into reports_dir, each atomically."""
    from revenue.reports import write_reports  # matplotlib is only needed here

    return write_reports(work_dir, reports_dir)


def _drop_dict(drops: pd.DataFrame) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for row in drops.itertuples(index=False):
        by_reason = result.setdefault(row.source, {})
        by_reason[row.reason] = by_reason.get(row.reason, 0) + int(row.rows)
    return result


def run_all(
    data_dir: str | Path,
    reports_dir: str | Path,
    report_date: str | None = None,
    postback_purchases: pd.DataFrame | None = None,
    work_dir: str | Path | None = None,
    progress: bool = True,
    tolerance_minutes: float = 10,
) -> dict:
    """Every stage in order (a temporary work_dir by default); returns each stage's result and timings."""
    with tempfile.TemporaryDirectory(prefix="revenue-work-") as scratch:
        work = Path(work_dir) if work_dir is not None else Path(scratch)
        calls: list[tuple[str, Callable[[], dict]]] = [
            ("extract", lambda: extract(data_dir, work, postback_purchases)),
            ("normalise", lambda: normalise(work)),
            ("dedup", lambda: dedup(work)),
            ("reconcile", lambda: reconcile(work, tolerance_minutes)),
            ("roas_anomaly", lambda: roas_anomaly(work, report_date)),
            ("arpdau", lambda: arpdau(work, report_date)),
            ("publish", lambda: publish(work, reports_dir)),
        ]
        results: dict[str, Any] = {"stages": {}, "seconds": {}}
        for name, call in calls:
            results["stages"][name], results["seconds"][name] = _timed(name, call, progress)
        results["seconds"]["total"] = round(sum(results["seconds"].values()), 3)
        return results


def _timed(name: str, call: Callable[[], dict], progress: bool) -> tuple[dict, float]:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=1, desc=f"{name:<13}", file=sys.stderr, bar_format="{desc} {bar:20} {elapsed}{postfix}")
    started = time.perf_counter()
    try:
        result = call()
    except BaseException:
        if bar is not None:
            bar.close()
        raise
    seconds = round(time.perf_counter() - started, 3)
    if bar is not None:
        bar.set_postfix_str(_postfix(result), refresh=False)
        bar.update(1)
        bar.close()
    return result, seconds


def _postfix(result: dict) -> str:
    rows = result.get("rows")
    if isinstance(rows, dict):
        return " ".join(f"{key}={value}" for key, value in rows.items() if not isinstance(value, dict))
    summary = result.get("summary", {})
    if isinstance(summary.get(reconcile_stage.MATCHED), dict):
        return " ".join(f"{c}={summary[c]['count']}" for c in reconcile_stage.CATEGORIES)
    if "reports" in result:
        return f"reports={len(result['reports'])}"
    return " ".join(f"{key}={value}" for key, value in result.items() if isinstance(value, (int, str)))
