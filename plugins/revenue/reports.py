"""The seven report files of SPEC §5, built from the work_dir artefacts and written atomically."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from revenue import reconcile as reconcile_stage
from revenue import roas as roas_stage
from revenue.io import (
    INPUT_FILES,
    SOURCE_ROW,
    AtomicBatch,
    iso_utc_text,
    json_text,
    read_parquet,
)
from revenue.work import iter_tables, load_meta, open_parquet

MAX_EXAMPLES = 1000
MALFORMED_LINE = "malformed_line"
_MATCHED_OK = "matched without a revenue mismatch"
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


def reconciliation_examples(detail: Iterable[pa.Table]) -> dict[str, list[dict[str, Any]]]:
    """Up to MAX_EXAMPLES records per category from the record batches in order, mismatched pairs
    first among the matched ones (the interesting examples); only the examples are kept."""
    buckets: dict[str, list[pa.Table]] = {name: [] for name in (*reconcile_stage.CATEGORIES, _MATCHED_OK)}
    kept = dict.fromkeys(buckets, 0)
    for table in detail:
        category = table.column("category").to_pandas().astype("str").to_numpy()
        mismatch = table.column("revenue_mismatch").to_numpy(zero_copy_only=False).astype(bool)
        for name in buckets:
            if kept[name] >= MAX_EXAMPLES:
                continue
            wanted = category == (reconcile_stage.MATCHED if name == _MATCHED_OK else name)
            if name == reconcile_stage.MATCHED:
                wanted &= mismatch
            elif name == _MATCHED_OK:
                wanted &= ~mismatch
            picked = np.flatnonzero(wanted)[: MAX_EXAMPLES - kept[name]]
            buckets[name].append(table.take(picked))
            kept[name] += len(picked)
    examples = {}
    for name in reconcile_stage.CATEGORIES:
        parts = buckets[name] + (buckets[_MATCHED_OK] if name == reconcile_stage.MATCHED else [])
        rows = pa.concat_tables(parts).slice(0, MAX_EXAMPLES) if parts else None
        examples[name] = [] if rows is None else records(rows.to_pandas())
    return examples


def reconciliation_payload(
    detail: pd.DataFrame | Iterable[pa.Table], meta: dict[str, Any], data_quality: dict[str, Any]
) -> dict[str, Any]:
    """Summary, examples and data quality; ``detail`` as a DataFrame or as record batches read from
    Parquet in order (then only the example rows ever become pandas)."""
    if isinstance(detail, pd.DataFrame):
        detail = [pa.Table.from_pandas(detail, preserve_index=False)]
    return {
        "toleranceMinutes": meta["toleranceMinutes"],
        "summary": meta["summary"],
        "examples": reconciliation_examples(detail),
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


def csv_ready(table: pa.Table) -> pa.Table:
    """Times as ISO text and categorical columns as their labels, as write_csv writes them."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(index, column.name, iso_utc_text(table.column(index)))
        elif pa.types.is_dictionary(column.type):
            table = table.set_column(index, column.name, table.column(index).cast(column.type.value_type))
    return table


def _stream_csv(tmp: Path, work: Path, name: str, columns: list[str] | None) -> None:
    """A work file as CSV, one record batch at a time (header once), so memory does not follow its size."""
    file = open_parquet(work, name)
    schema = (
        file.schema_arrow if columns is None else pa.schema([file.schema_arrow.field(c) for c in columns])
    )
    empty = csv_ready(schema.empty_table())
    options = pa_csv.WriteOptions(quoting_style="needed")
    with pa_csv.CSVWriter(str(tmp), empty.schema, write_options=options) as writer:
        for table in iter_tables(file, columns):
            writer.write_table(csv_ready(table))


def _write_text(tmp: Path, text: str) -> None:
    tmp.write_text(text, encoding="utf-8")


def write_reports(work_dir: str | Path, reports_dir: str | Path) -> dict[str, Any]:
    """Build every report from work_dir, then rename all seven into reports_dir together."""
    from revenue.report_html import render_report  # matplotlib is only needed here

    work, out = Path(work_dir), Path(reports_dir)
    verdicts = read_parquet(work / "roas_d1.parquet")
    daily = read_parquet(work / "roas_daily.parquet")
    arpdau_table = read_parquet(work / "arpdau_d1.parquet")
    reconcile_meta, roas_meta = load_meta(work, "reconcile"), load_meta(work, "roas")
    arpdau_meta, extract_meta = load_meta(work, "arpdau"), load_meta(work, "extract")
    quality = data_quality(
        work,
        extract_meta,
        read_parquet(work / "curated_purchases.parquet", ["chargeback", "original_revenue_usd"]),
    )
    coverage = d1_coverage(daily, roas_meta["date"], arpdau_meta["dau"], extract_meta)

    out.mkdir(parents=True, exist_ok=True)
    # The big CSVs are streamed a record batch at a time by pyarrow (which releases the GIL) while
    # this thread builds the JSON and the charts. The pool closes before the batch, so no writer
    # outlives a rollback.
    with AtomicBatch() as batch, ThreadPoolExecutor(max_workers=2) as pool:
        csv_jobs = [
            pool.submit(
                batch.add,
                out / "purchases_curated.csv",
                functools.partial(_stream_csv, work=work, name="curated_purchases", columns=CURATED_COLUMNS),
            ),
            pool.submit(
                batch.add,
                out / "reconciliation_detail.csv",
                functools.partial(_stream_csv, work=work, name="reconciliation_detail", columns=None),
            ),
        ]
        detail = iter_tables(open_parquet(work, "reconciliation_detail"))
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
