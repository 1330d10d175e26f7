"""CLI: ``python -m revenue run --data-dir data --reports-dir reports [--date YYYY-MM-DD]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from revenue import reconcile as reconcile_stage
from revenue.dates import parse_report_date
from revenue.io import InputDataError
from revenue.params import DEFAULT_TOLERANCE_MINUTES
from revenue.stages import run_all

STAGE_NAMES = ("extract", "normalise", "dedup", "reconcile", "roas_anomaly", "arpdau", "publish")


def summary_table(result: dict[str, Any]) -> str:
    """Rows in/out per stage, reconciliation categories and anomalies, as a plain-text table."""
    stages = result["stages"]
    extract, normalise, dedup = (
        stages["extract"]["rows"],
        stages["normalise"]["rows"],
        stages["dedup"]["rows"],
    )
    reconcile = stages["reconcile"]["summary"]
    roas, arpdau = stages["roas_anomaly"], stages["arpdau"]
    seconds = result["seconds"]
    arpdau_text = "none (no DAU)" if arpdau["arpdau"] is None else f"${arpdau['arpdau']:,.2f}"
    lines = [
        ("stage", "rows in", "rows out", "seconds"),
        *[
            (f"normalise {source}", extract[source], normalise[source], "")
            for source in ("purchases", "confirmed", "costs", "sessions")
        ],
        ("dedup purchases", dedup["in"], dedup["out"], seconds["dedup"]),
        (
            "reconcile",
            reconcile["totalAf"] + reconcile["totalConfirmed"],
            f"matched {reconcile['matched']['count']}",
            seconds["reconcile"],
        ),
        ("", "", f"af_only {reconcile['af_only']['count']}", ""),
        ("", "", f"confirmed_only {reconcile['confirmed_only']['count']}", ""),
        ("", "", f"revenue mismatches {reconcile['revenueMismatches']}", ""),
        (
            "roas_anomaly",
            roas["campaigns"],
            f"anomalies {roas['anomalies']} ({roas['critical']} critical)",
            seconds["roas_anomaly"],
        ),
        ("arpdau", arpdau["campaigns"], f"DAU {arpdau['dau']:,}, ARPDAU {arpdau_text}", seconds["arpdau"]),
        ("publish", "", f"{len(stages['publish']['reports'])} reports", seconds["publish"]),
        ("total", "", "", seconds["total"]),
    ]
    widths = [max(len(str(row[i])) for row in lines) for i in range(4)]
    rendered = [
        " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in lines
    ]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def closing_lines(result: dict[str, Any], reports_dir: str) -> list[str]:
    """The report date and why, where the reports are, and every data-coverage warning."""
    summary = result["stages"]["publish"]["summary"]
    warnings = summary["dataCoverageWarnings"]
    lines = [
        f"Report date (D-1): {summary['date']} ({summary['dateWhy']})",
        f"Reports: {Path(reports_dir).resolve()} ({len(result['stages']['publish']['reports'])} files, "
        f"open report.html)",
    ]
    if warnings:
        lines.append(f"Data coverage: {len(warnings)} warning(s)")
        lines += [f"  warning: {warning}" for warning in warnings]
    else:
        lines.append("Data coverage: complete for this day")
    return lines


def _stage_outcome(result: dict[str, Any]) -> str:
    rows = result.get("rows")
    if isinstance(rows, dict):
        return " ".join(f"{key}={value:,}" for key, value in rows.items() if isinstance(value, int))
    summary = result.get("summary", {})
    if isinstance(summary.get(reconcile_stage.MATCHED), dict):
        return " ".join(f"{c}={summary[c]['count']:,}" for c in reconcile_stage.CATEGORIES)
    if "reports" in result:
        return f"reports={len(result['reports'])}"
    return " ".join(
        f"{key}={value}"
        for key, value in result.items()
        if isinstance(value, (int, str)) and key not in _SAID_LATER
    )


_SAID_LATER = {"dateReason", "dateWhy"}  # closing_lines states the date's reason once


class StageProgress:
    """One live tqdm bar over the stages in a terminal; one plain line per stage otherwise (CI, logs)."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream = stream
        self.started = 0.0
        self.bar = None
        if live:
            from tqdm import tqdm

            self.bar = tqdm(
                total=len(STAGE_NAMES),
                file=stream,
                unit="stage",
                desc="pipeline",
                leave=True,
                bar_format="{desc:<24} {bar:20} {n_fmt}/{total_fmt} stages {elapsed}",
            )

    def __call__(self, name: str, result: dict[str, Any] | None) -> None:
        if result is None:
            self.started = time.perf_counter()
            if self.bar is not None:
                self.bar.set_description_str(f"pipeline: {name}")
            return
        seconds = time.perf_counter() - self.started
        line = f"{time.strftime('%H:%M:%S')} {name} done in {seconds:.2f} s: {_stage_outcome(result)}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.set_description_str("pipeline: done")
            self.bar.close()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revenue", description="Revenue pipeline (SPEC §5)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run every stage and write the reports")
    run.add_argument("--data-dir", default="data")
    run.add_argument("--reports-dir", default="reports")
    run.add_argument(
        "--date",
        default=None,
        type=parse_report_date,
        help="report date D-1 (YYYY-MM-DD); default: the latest day costs_daily.csv covers",
    )
    run.add_argument("--tolerance-minutes", type=float, default=DEFAULT_TOLERANCE_MINUTES)
    run.add_argument("--work-dir", default=None, help="keep the stage Parquet files here")
    run.add_argument(
        "--shards",
        type=_positive_int,
        default=None,
        help="hash partitions processed one after another (memory follows one partition); "
        "the reports are the same for every count",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress bar, even in a terminal")
    args = parser.parse_args(argv)
    progress = StageProgress(sys.stderr, live=sys.stderr.isatty() and not args.no_progress)
    try:
        result = run_all(
            args.data_dir,
            args.reports_dir,
            report_date=args.date,
            work_dir=args.work_dir,
            tolerance_minutes=args.tolerance_minutes,
            on_stage=progress,
            shards=args.shards,
        )
    except InputDataError as exc:  # bad inputs: one line naming file and line, no traceback
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress.close()
    print(summary_table(result))
    print("\n".join(closing_lines(result, args.reports_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
