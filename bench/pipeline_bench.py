"""Pipeline benchmark (figures, not a test).

    .venv/bin/pip install -r bench/requirements.txt   # DuckDB, the yardstick (bench-only)
    .venv/bin/python bench/pipeline_bench.py [--rows 1000000] [--shards 1] [--days 90]
        [--campaigns 60] [--loop-rows 100000]

1. Generates ~1M AppsFlyer purchases (~0.9M confirmed, ~1.5M sessions, 60 campaigns x 90 days of
   cost) with revenue.synth and writes the CSVs to a temp dir.
2. Runs the whole pipeline (every stage, all seven reports) in a fresh child process and prints
   each stage's seconds, the total, and the child's peak RSS.
3. Runs the same stages in DuckDB (bench/duckdb_pipeline.py) on the same files in another fresh
   child, prints its stages, wall time and peak RSS, the ratio ours / DuckDB, and whether both
   found the same reconciliation counts.
   With ``--shards K [K ...]`` (say ``--shards 1 8``) it then runs the sharded DAG's tasks on the
   same data, each task in its own fresh process as an Airflow worker would (extract, K x normalise,
   dedup, reconcile, roas_anomaly, arpdau, publish, shards one after another), and prints for every
   K side by side: the sum of task seconds, task CPU, and the peak RSS of the largest task.
   ``--skip-whole`` leaves out step 2 and 3's whole-input runs (at 10M rows they need ~8 GB).
4. Reconciles ~100k rows with the brief's §5.2 per-group loop (made one-to-one: inside each
   appsflyer_id group all pairs within the window are taken greedily in the SPEC's order) and with
   revenue.reconcile, checks that both give the same pairs, and prints the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: on Linux ru_maxrss survives execve, so a
    child started from a big parent would report the parent's footprint."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(data_dir: str, reports_dir: str) -> None:
    """Runs in a fresh process so that peak RSS is the pipeline's alone."""
    from revenue.stages import run_all

    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_all(data_dir, reports_dir)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mib = peak_rss_mib()
    print(
        json.dumps(
            {
                "seconds": result["seconds"],
                "wall": round(wall, 3),
                "cpu": round(cpu, 3),
                "peak_rss_mib": round(peak_mib, 1),
                "rows": result["stages"]["extract"]["rows"],
                "summary": result["stages"]["publish"]["summary"],
            }
        )
    )


def duckdb_child(data_dir: str, reports_dir: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.duckdb_pipeline import run

    started, cpu_started = time.perf_counter(), time.process_time()
    result = run(data_dir, reports_dir)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        json.dumps(
            {**result, "wall": round(wall, 3), "cpu": round(cpu, 3), "peak_rss_mib": round(peak_rss_mib(), 1)}
        )
    )


def task_child(name: str, spec_json: str) -> None:
    """One DAG task of a sharded run in this fresh process: its seconds, CPU and peak RSS."""
    from revenue import sharded, stages

    spec = json.loads(spec_json)
    work, shard, shards = Path(spec["work"]), spec.get("shard", 0), spec["shards"]
    tolerance = 10.0
    calls = {
        "extract": lambda: sharded.extract(spec["data"], work, shards),
        "normalise": lambda: sharded.normalise_shard(work, shard),
        "dedup": lambda: sharded.dedup_shard(work, shard),
        "reconcile": lambda: sharded.reconcile_shard(work, shard, tolerance),
        "roas_anomaly": lambda: sharded.roas_shard(work, shard),
        "arpdau": lambda: sharded.arpdau_shard(work, shard, spec["date"]),
        "publish": lambda: stages.publish(
            sharded.combine_for_publish(work, shards, work, tolerance), spec["reports"]
        ),
    }
    started, cpu_started = time.perf_counter(), time.process_time()
    result = calls[name]()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "cpu": round(cpu, 3),
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "date": result.get("date"),
            }
        )
    )


def sharded_tasks(data: Path, scratch: Path, shards: int) -> dict:
    """The sharded DAG's tasks, each in a fresh process; per-task figures and the largest task."""
    work, reports = scratch / f"work-k{shards}", scratch / f"reports-k{shards}"
    figures: list[tuple[str, dict]] = []

    def run(name: str, **spec) -> dict:
        spec = {"data": str(data), "work": str(work), "reports": str(reports), "shards": shards, **spec}
        completed = subprocess.run(
            [sys.executable, __file__, "--task-child", name, json.dumps(spec)], capture_output=True, text=True
        )
        if completed.returncode != 0:
            sys.exit(f"task {name} failed:\n{completed.stderr[-4000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        figures.append((name if "shard" not in spec else f"{name}[{spec['shard']}]", result))
        return result

    started = time.perf_counter()
    day = run("extract")["date"]
    for stage in ("normalise", "dedup", "reconcile", "roas_anomaly", "arpdau"):
        for shard in range(shards):
            run(stage, shard=shard, date=day)
    run("publish", date=day)
    largest_name, largest = max(figures, key=lambda item: item[1]["peak_rss_mib"])
    return {
        "shards": shards,
        "tasks": len(figures),
        "wall_with_starts": round(time.perf_counter() - started, 1),
        "task_seconds": round(sum(f["seconds"] for _, f in figures), 2),
        "task_cpu": round(sum(f["cpu"] for _, f in figures), 2),
        "largest_task": largest_name,
        "largest_task_rss_mib": largest["peak_rss_mib"],
        "by_stage_rss_mib": {
            stage: max(f["peak_rss_mib"] for name, f in figures if name.split("[")[0] == stage)
            for stage in ("extract", "normalise", "dedup", "reconcile", "roas_anomaly", "arpdau", "publish")
        },
        "reports": reports,
    }


def print_sharded(runs: list[dict]) -> None:
    print("\nsharded DAG tasks, one fresh process per task (as on a worker), shards one after another:")
    rows = [
        ("K", [str(run["shards"]) for run in runs]),
        ("task instances", [str(run["tasks"]) for run in runs]),
        ("sum of task seconds", [f"{run['task_seconds']:.2f}" for run in runs]),
        ("sum of task CPU s", [f"{run['task_cpu']:.2f}" for run in runs]),
        ("wall incl. process starts", [f"{run['wall_with_starts']:.1f}" for run in runs]),
        ("largest task", [run["largest_task"] for run in runs]),
        ("largest task peak RSS MiB", [f"{run['largest_task_rss_mib']:.0f}" for run in runs]),
        *[
            (f"  peak RSS {stage} MiB", [f"{run['by_stage_rss_mib'][stage]:.0f}" for run in runs])
            for stage in runs[0]["by_stage_rss_mib"]
        ],
    ]
    for label, cells in rows:
        print(f"  {label:<28}" + "".join(f"{cell:>16}" for cell in cells))
    first = runs[0]["reports"]
    same = all(
        (run["reports"] / name).read_bytes() == (first / name).read_bytes()
        for run in runs[1:]
        for name in (
            "reconciliation.json",
            "roas_d1.json",
            "arpdau_d1.json",
            "purchases_curated.csv",
            "reconciliation_detail.csv",
        )
    )
    print(f"  reports identical for every K: {same}")


def run_child(flag: str, data: Path, reports: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, flag, str(data), str(reports)],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.exit(f"{flag} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def print_figures(title: str, figures: dict) -> None:
    print(f"\n{title}:")
    for stage, seconds in figures["seconds"].items():
        print(f"  {stage:<13} {seconds:7.3f} s")
    print(
        f"  wall {figures['wall']:.3f} s; CPU (all threads) {figures['cpu']:.3f} s; "
        f"peak RSS {figures['peak_rss_mib']:.0f} MiB"
    )


def brief_loop_one_to_one(af: pd.DataFrame, confirmed: pd.DataFrame, tolerance_minutes: float = 10) -> set:
    """The brief's "after" code (groupby + per-id loop + vectorised time diffs), made one-to-one."""
    tolerance = pd.Timedelta(minutes=tolerance_minutes)
    purchases_by_af = af.groupby("appsflyer_id")
    confirmed_by_af = confirmed.groupby("appsflyer_id")
    confirmed_ids = set(confirmed["appsflyer_id"])
    pairs = set()
    for af_id in af["appsflyer_id"].unique():
        if af_id not in confirmed_ids:
            continue
        p_group = purchases_by_af.get_group(af_id)
        c_group = confirmed_by_af.get_group(af_id)
        time_diffs = np.abs(
            p_group["event_time_utc"].to_numpy()[:, None] - c_group["event_time_utc"].to_numpy()[None, :]
        )
        p_index, c_index = np.nonzero(time_diffs <= tolerance.to_timedelta64())
        if len(p_index) == 0:
            continue
        revenue_diffs = np.abs(
            np.rint(p_group["original_revenue_usd"].to_numpy()[p_index] * 100)
            - np.rint(c_group["revenue_usd"].to_numpy()[c_index] * 100)
        )
        order = np.lexsort(
            (
                c_group["source_row"].to_numpy()[c_index],
                p_group["source_row"].to_numpy()[p_index],
                c_group["event_time_utc"].to_numpy()[c_index],
                p_group["event_time_utc"].to_numpy()[p_index],
                revenue_diffs,
                time_diffs[p_index, c_index],
            )
        )
        taken_p, taken_c = set(), set()
        for k in order:
            p, c = p_index[k], c_index[k]
            if p not in taken_p and c not in taken_c:
                taken_p.add(p)
                taken_c.add(c)
                pairs.add((int(p_group["source_row"].iloc[p]), int(c_group["source_row"].iloc[c])))
    return pairs


def loop_comparison(rows: int, seed: int) -> dict:
    from revenue import reconcile, stages, synth
    from revenue.io import read_parquet

    with tempfile.TemporaryDirectory(prefix="pipeline-loop-") as scratch:
        frames, truth = synth.generate(rows, seed)
        synth.write_dataset(Path(scratch) / "data", frames, truth)
        work = Path(scratch) / "work"
        stages.extract(Path(scratch) / "data", work)
        stages.normalise(work)
        stages.dedup(work)
        af = read_parquet(work / "curated_purchases.parquet")
        conf = read_parquet(work / "normalised_confirmed.parquet")
    started = time.perf_counter()
    detail = reconcile.reconcile(af, conf)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    loop_pairs = brief_loop_one_to_one(af, conf)
    loop = time.perf_counter() - started
    matched = detail[detail["category"] == "matched"]
    our_pairs = set(
        zip(matched["af_source_row"].astype(int), matched["confirmed_source_row"].astype(int), strict=True)
    )
    return {
        "af_rows": len(af),
        "confirmed_rows": len(conf),
        "vectorised_s": round(ours, 3),
        "brief_loop_s": round(loop, 3),
        "ratio": round(loop / ours, 1),
        "same_pairs": our_pairs == loop_pairs,
        "equals_ground_truth": sorted(map(list, our_pairs)) == truth["pairs"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1])
    parser.add_argument("--skip-whole", action="store_true", help="no whole-input runs (ours, DuckDB)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--campaigns", type=int, default=60)
    parser.add_argument(
        "--loop-rows", type=int, default=100_000, help="0 skips the per-group loop comparison"
    )
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--child", nargs=2, metavar=("DATA_DIR", "REPORTS_DIR"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--duckdb-child", nargs=2, metavar=("DATA_DIR", "REPORTS_DIR"), help=argparse.SUPPRESS
    )
    parser.add_argument("--task-child", nargs=2, metavar=("TASK", "SPEC_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task_child:
        task_child(*args.task_child)
        return
    if args.child:
        child(*args.child)
        return
    if args.duckdb_child:
        duckdb_child(*args.duckdb_child)
        return
    from revenue import synth

    print(f"load before: {os.getloadavg()}; shards K={args.shards}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as scratch:
        data = Path(scratch) / "data"
        started = time.perf_counter()
        frames, _ = synth.generate(args.rows, args.seed, days=args.days, campaigns=args.campaigns)
        synth.write_dataset(data, frames, {"note": "ground truth not needed here"})
        print(
            f"generated {', '.join(f'{k}={len(v):,}' for k, v in frames.items())} "
            f"in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        del frames
        sharded_runs = [sharded_tasks(data, Path(scratch), k) for k in args.shards if args.shards != [1]]
        if sharded_runs:
            print_sharded(sharded_runs)
        if args.skip_whole:
            print(f"load after: {os.getloadavg()}")
            return
        ours = run_child("--child", data, Path(scratch) / "reports")
        print_figures("ours, whole run (fresh process, all seven reports)", ours)
        print(f"  rows {ours['rows']}; summary {ours['summary']}")
        duck = run_child("--duckdb-child", data, Path(scratch) / "duckdb-reports")
        print_figures("DuckDB yardstick, same stages (fresh process, no report.html)", duck)
        print(
            f"  report date {duck['report_date']}; greedy rounds {duck['greedy_rounds']}; "
            f"summary {duck['summary']}"
        )
    same = all(
        ours["summary"][key] == duck["summary"]["categories"].get(key, 0)
        for key in ("matched", "af_only", "confirmed_only")
    )
    same = same and ours["summary"]["revenueMismatches"] == duck["summary"]["revenueMismatches"]
    print(
        f"\nours / DuckDB: wall {ours['wall'] / duck['wall']:.2f}x, stage sum "
        f"{ours['seconds']['total'] / sum(duck['seconds'].values()):.2f}x, "
        f"CPU {ours['cpu'] / duck['cpu']:.2f}x, peak RSS "
        f"{ours['peak_rss_mib'] / duck['peak_rss_mib']:.2f}x; same reconciliation counts: {same}"
    )
    if args.loop_rows:
        print(
            f"\nreconciliation on ~{args.loop_rows:,} rows, brief per-group loop vs vectorised:", flush=True
        )
        print("  " + json.dumps(loop_comparison(args.loop_rows, args.seed + 1)))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
