"""CLI: ``python -m revenue run --data-dir data --reports-dir reports [--date YYYY-MM-DD]``."""
from __future__ import annotations

import argparse
import sys

from revenue.io import InputSchemaError
from revenue.stages import run_all


def summary_table(result: dict) -> str:
    """Rows in/out per stage, reconciliation categories and anomalies, as a plain-text table."""
    stages = result["stages"]
    extract, normalise, dedup = stages["extract"]["rows"], stages["normalise"]["rows"], stages["dedup"]["rows"]
    reconcile = stages["reconcile"]["summary"]
    roas, arpdau = stages["roas_anomaly"], stages["arpdau"]
    seconds = result["seconds"]
    lines = [
        ("stage", "rows in", "rows out", "seconds"),
        *[
            (f"normalise {source}", extract[source], normalise[source], "")
            for source in ("purchases", "confirmed", "costs", "sessions")
        ],
        ("dedup purchases", dedup["in"], dedup["out"], seconds["dedup"]),
        ("reconcile", reconcile["totalAf"] + reconcile["totalConfirmed"],
         f"matched {reconcile['matched']['count']}", seconds["reconcile"]),
        ("", "", f"af_only {reconcile['af_only']['count']}", ""),
        ("", "", f"confirmed_only {reconcile['confirmed_only']['count']}", ""),
        ("", "", f"revenue mismatches {reconcile['revenueMismatches']}", ""),
        ("roas_anomaly", roas["campaigns"], f"anomalies {roas['anomalies']} ({roas['critical']} critical)",
         seconds["roas_anomaly"]),
        ("arpdau", arpdau["campaigns"], f"DAU {arpdau['dau']}, ARPDAU {arpdau['arpdau']}", seconds["arpdau"]),
        ("publish", "", f"{len(stages['publish']['reports'])} reports", seconds["publish"]),
        ("total", "", f"report date {roas['date']}", seconds["total"]),
    ]
    widths = [max(len(str(row[i])) for row in lines) for i in range(4)]
    rendered = [" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revenue", description="Revenue pipeline (SPEC §5)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run every stage and write the reports")
    run.add_argument("--data-dir", default="data")
    run.add_argument("--reports-dir", default="reports")
    run.add_argument("--date", default=None, help="report date D-1 (YYYY-MM-DD); default: latest cost date")
    run.add_argument("--tolerance-minutes", type=float, default=10)
    run.add_argument("--work-dir", default=None, help="keep the stage Parquet files here")
    run.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = run_all(
            args.data_dir, args.reports_dir, report_date=args.date, work_dir=args.work_dir,
            progress=not args.no_progress, tolerance_minutes=args.tolerance_minutes,
        )
    except (InputSchemaError, ValueError) as exc:  # bad inputs or an unusable --date: say so, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
