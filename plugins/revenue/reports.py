"""The seven report files of SPEC §5, built from the work_dir artefacts and written atomically."""

from __future__ import annotations

import datetime as dt
import functools
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from revenue import reconcile as reconcile_stage
from revenue import roas as roas_stage
from revenue.io import (
    INPUT_FILES,
    SOURCE_ROW,
    AtomicBatch,
    iso_utc_text,
    json_text,
    read_parquet,
    read_parquet_table,
    write_csv,
)
from revenue.work import load_meta

MAX_EXAMPLES = 1000
MALFORMED_LINE = "malformed_line"
REPORT_FILES = (
    "purchases_curated.csv",
    "reconciliation.json",
    "reconciliation_detail.csv",
    "roas_d1.json",
    "roas_anomaly.json",
    "arpdau_d1.json",
    "report.html",
)
CURATED_COLUMNS = [
    "appsflyer_id",
    "event_time_utc",
    "event_name",
    "revenue_usd",
    "original_revenue_usd",
    "chargeback",
    "campaign",
    "receipt_id",
    SOURCE_ROW,
]


def iso_utc(times: pd.Series) -> pd.Series:
    """UTC timestamps as ISO 8601 text with offset (``2025-11-12T10:30:00+00:00``); NaT -> null."""
    # Positional: the text comes back with a fresh index, which must not be aligned to ``times``'.
    return pd.Series(
        iso_utc_text(pa.array(times)).to_numpy(zero_copy_only=False), index=times.index, dtype="str"
    )


def with_iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    converted = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            converted[column] = iso_utc(frame[column])
    return converted


def number(value: Any, digits: int = 6) -> float | int | None:
    """A JSON-safe number: NaN/inf/NA become null."""
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return round(float(value), digits)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as camelCase JSON objects: ISO times, null for missing numbers."""
    names = {str(column): _camel(str(column)) for column in frame.columns}
    out = []
    for row in with_iso_times(frame).to_dict("records"):
        item: dict[str, Any] = {}
        for column, value in row.items():
            key = str(column)
            if isinstance(value, (bool, np.bool_)):
                item[names[key]] = bool(value)
            elif isinstance(value, (int, float, np.integer, np.floating)) or value is pd.NA or value is None:
                item[names[key]] = number(value)
            else:
                item[names[key]] = None if pd.isna(value) else str(value)
        out.append(item)
    return out


def reconciliation_payload(
    detail: pd.DataFrame | pa.Table, meta: dict[str, Any], data_quality: dict[str, Any]
) -> dict[str, Any]:
    """Summary, examples and data quality; ``detail`` as a DataFrame or as the Arrow table read from
    Parquet (then only the example rows ever become pandas)."""
    examples = {}
    if isinstance(detail, pa.Table):
        category = detail.column("category").to_pandas().to_numpy()
        mismatch = detail.column("revenue_mismatch").to_numpy()
    else:
        category = detail["category"].to_numpy()
        mismatch = detail["revenue_mismatch"].to_numpy(dtype=bool)
    for name in reconcile_stage.CATEGORIES:
        # Positions first, rows last: only the examples are ever copied out of the big frame.
        positions = np.flatnonzero(category == name)
        if name == reconcile_stage.MATCHED:  # mismatched pairs are the interesting examples
            positions = np.concatenate([positions[mismatch[positions]], positions[~mismatch[positions]]])
        picked = positions[:MAX_EXAMPLES]
        rows = detail.take(picked).to_pandas() if isinstance(detail, pa.Table) else detail.iloc[picked]
        examples[name] = records(rows)
    return {
        "toleranceMinutes": meta["toleranceMinutes"],
        "summary": meta["summary"],
        "examples": examples,
        "dataQuality": data_quality,
    }


def data_quality(work_dir: Path, extract_meta: dict[str, Any], curated: pd.DataFrame) -> dict[str, Any]:
    drops = pd.concat(
        [read_parquet(work_dir / "drops_normalise.parquet"), read_parquet(work_dir / "drops_dedup.parquet")]
    )
    dropped: dict[str, dict[str, int]] = {}
    for source, reason, rows in drops[["source", "reason", "rows"]].itertuples(index=False, name=None):
        dropped.setdefault(str(source), {})[str(reason)] = int(rows)
    malformed = extract_meta.get("malformed", {})
    for source, skipped in malformed.items():
        dropped.setdefault(source, {})[MALFORMED_LINE] = skipped["rows"]
    return {
        "rowsIn": extract_meta["rows"],
        "dropped": dropped,
        "droppedTotal": int(drops["rows"].sum()) + sum(skipped["rows"] for skipped in malformed.values()),
        "curatedPurchases": int(len(curated)),
        "chargebacks": {
            "purchasesFlagged": int(curated["chargeback"].sum()),
            "revenueZeroedUsd": number(curated.loc[curated["chargeback"], "original_revenue_usd"].sum(), 2),
        },
    }


def input_warnings(extract_meta: dict[str, Any]) -> list[str]:
    """What the inputs lacked as read: files with a header and no rows, malformed lines skipped."""
    warnings = []
    for source, rows in extract_meta["rows"].items():
        if source in INPUT_FILES and rows == 0:
            warnings.append(f"{INPUT_FILES[source]} has a header but no data rows.")
    for source, skipped in extract_meta.get("malformed", {}).items():
        lines = ", ".join(str(line) for line in skipped["lines"])
        more = "" if len(skipped["lines"]) >= skipped["rows"] else ", ..."
        warnings.append(
            f"{INPUT_FILES[source]}: {skipped['rows']:,} malformed line(s) skipped "
            f"(wrong number of fields; line {lines}{more})."
        )
    return warnings


def d1_coverage(
    daily: pd.DataFrame, report_date: str, dau: int, extract_meta: dict[str, Any]
) -> dict[str, Any]:
    """Whether the inputs hold any cost, revenue and sessions on D-1, the latest days they do hold,
    and every gap as a warning.

    A run for a day the exports have not reached yet must say so: an empty D-1 would otherwise
    read as "no anomalies" to the people acting on the report.
    """
    day = pd.Timestamp(report_date)
    on_day = daily[daily["date"] == day]
    cost_days = daily.loc[daily["cost_usd"].notna(), "date"]
    revenue_days = daily.loc[daily["revenue_usd"] > 0, "date"]
    has_cost, has_revenue = bool(on_day["cost_usd"].notna().any()), bool((on_day["revenue_usd"] > 0).any())
    latest_cost = cost_days.max().date().isoformat() if len(cost_days) else None
    latest_revenue = revenue_days.max().date().isoformat() if len(revenue_days) else None
    warnings = input_warnings(extract_meta)
    if not has_cost:
        warnings.append(
            f"costs_daily has no rows for {report_date} (latest cost date: {latest_cost or 'none'})."
        )
    if not has_revenue:
        warnings.append(f"No curated purchase revenue on {report_date} (latest: {latest_revenue or 'none'}).")
    if dau == 0:
        warnings.append(f"No sessions on {report_date}: DAU is 0, so ARPDAU cannot be computed.")
    return {
        "hasCost": has_cost,
        "hasRevenue": has_revenue,
        "hasSessions": dau > 0,
        "latestCostDate": latest_cost,
        "latestRevenueDate": latest_revenue,
        "warnings": warnings,
    }


def date_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """The report date and why it was chosen, as every report states them."""
    return {"date": meta["date"], "dateReason": meta["dateReason"], "dateWhy": meta["dateWhy"]}


def roas_d1_payload(
    verdicts: pd.DataFrame, roas_meta: dict[str, Any], coverage: dict[str, Any]
) -> dict[str, Any]:
    revenue, cost = float(verdicts["revenue_usd"].sum()), float(verdicts["cost_usd"].fillna(0).sum())
    return {
        **date_fields(roas_meta),
        "dataCoverage": coverage,
        "campaigns": records(verdicts[["campaign", "revenue_usd", "cost_usd", "roas", "purchases"]]),
        "totals": {
            "revenueUsd": number(revenue, 2),
            "costUsd": number(cost, 2),
            "roas": number(revenue / cost) if cost > 0 else None,
        },
    }


def roas_anomaly_payload(verdicts: pd.DataFrame, report_date: str) -> dict[str, Any]:
    day = dt.date.fromisoformat(report_date)
    columns = [
        "campaign",
        "status",
        "severity",
        "roas",
        "baseline_roas",
        "baseline_days",
        "ratio_to_baseline",
        "revenue_usd",
        "cost_usd",
        "baseline_revenue_usd",
        "baseline_cost_usd",
        "insight",
    ]
    flagged = verdicts[verdicts["status"] == roas_stage.ANOMALY].copy()
    flagged["_order"] = (flagged["severity"] != "critical").astype(int)
    flagged = flagged.sort_values(["_order", "ratio_to_baseline", "campaign"])
    return {
        "date": report_date,
        "baselineWindow": {
            "from": (day - dt.timedelta(days=roas_stage.BASELINE_FROM_DAYS_BEFORE)).isoformat(),
            "to": (day - dt.timedelta(days=roas_stage.BASELINE_TO_DAYS_BEFORE)).isoformat(),
        },
        "rules": {
            "flagBelowBaselineRatio": roas_stage.ANOMALY_RATIO,
            "criticalBelowBaselineRatio": roas_stage.CRITICAL_RATIO,
            "minBaselineDays": roas_stage.MIN_BASELINE_DAYS,
        },
        "anomalies": records(flagged[columns]),
        "campaigns": records(verdicts[columns]),
    }


def arpdau_payload(table: pd.DataFrame, arpdau_meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **date_fields(arpdau_meta),
        "campaigns": records(table[["campaign", "revenue_usd", "dau", "arpdau"]]),
    }


def _write_text(tmp: Path, text: str) -> None:
    tmp.write_text(text, encoding="utf-8")


def write_reports(work_dir: str | Path, reports_dir: str | Path) -> dict[str, Any]:
    """Build every report from work_dir, then rename all seven into reports_dir together."""
    from revenue.report_html import render_report  # matplotlib is only needed here

    work, out = Path(work_dir), Path(reports_dir)
    # The two big tables stay Arrow: the CSV writer takes them as they are read.
    curated = read_parquet_table(work / "curated_purchases.parquet", CURATED_COLUMNS)
    detail = read_parquet_table(work / "reconciliation_detail.parquet")
    verdicts = read_parquet(work / "roas_d1.parquet")
    daily = read_parquet(work / "roas_daily.parquet")
    arpdau_table = read_parquet(work / "arpdau_d1.parquet")
    reconcile_meta, roas_meta = load_meta(work, "reconcile"), load_meta(work, "roas")
    arpdau_meta, extract_meta = load_meta(work, "arpdau"), load_meta(work, "extract")
    quality = data_quality(
        work, extract_meta, curated.select(["chargeback", "original_revenue_usd"]).to_pandas()
    )
    coverage = d1_coverage(daily, roas_meta["date"], arpdau_meta["dau"], extract_meta)

    out.mkdir(parents=True, exist_ok=True)
    # The big CSVs are written by pyarrow (which releases the GIL) while this thread builds the
    # JSON and the charts. The pool closes before the batch, so no writer outlives a rollback.
    with AtomicBatch() as batch, ThreadPoolExecutor(max_workers=2) as pool:
        csv_jobs = [
            pool.submit(batch.add, out / "purchases_curated.csv", lambda tmp: write_csv(tmp, curated)),
            pool.submit(batch.add, out / "reconciliation_detail.csv", lambda tmp: write_csv(tmp, detail)),
        ]
        payloads = {
            "reconciliation.json": reconciliation_payload(detail, reconcile_meta, quality),
            "roas_d1.json": roas_d1_payload(verdicts, roas_meta, coverage),
            "roas_anomaly.json": roas_anomaly_payload(verdicts, roas_meta["date"]),
            "arpdau_d1.json": arpdau_payload(arpdau_table, arpdau_meta),
        }
        html = render_report(payloads, daily, verdicts)
        for name, payload in payloads.items():
            text = json_text(payload)
            batch.add(out / name, functools.partial(_write_text, text=text))
        batch.add(out / "report.html", functools.partial(_write_text, text=html))
        for job in csv_jobs:
            job.result()
    summary = {
        **date_fields(roas_meta),
        **{c: reconcile_meta["summary"][c]["count"] for c in reconcile_stage.CATEGORIES},
        "revenueMismatches": reconcile_meta["summary"]["revenueMismatches"],
        "anomalies": roas_meta["anomalies"],
        "critical": roas_meta["critical"],
        "dataCoverageWarnings": coverage["warnings"],
    }
    return {"reports": {name: str(out / name) for name in REPORT_FILES}, "summary": summary}
