"""Load benchmark: the service's wallet API against a hand-written Sanic + asyncpg yardstick.

For each app (the service, then bench/yardstick_app.py) this creates a fresh PostgreSQL
database, migrates it with `python -m service migrate` (the yardstick uses the same schema;
bench/yardstick_schema.sql only when the service is not importable), seeds N users, starts
the app with `sanic ... --factory --workers 2` on a free loopback port, and drives wrk:

  earn      100 % POST /earn, random user of N        at each connection level
  mix       60 % /earn, 30 % /balance, 10 % /event    at each connection level
  hot-row   100 % POST /earn, all on one user         at the first level
  balance   100 % GET /balance                        at the first level
Both apps run every scenario; the service/yardstick throughput ratio is printed for each.

Needs wrk (`apt-get update && apt-get install -y wrk`) and PostgreSQL at BENCH_DATABASE_URL
or TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432; databases are created and
dropped there). Run from the repository root:

    .venv/bin/python -m bench.api_load                # 3 s warm-up + 15 s per scenario
    .venv/bin/python -m bench.api_load --only yardstick --duration 5

Prints a table and writes bench/results/api_load-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import pg_database as pg
from bench.pg_alone import pgbench_earn
from bench.profiling import start_recording, summarise
from bench.servers import start_server, stop_server
from bench.wrk_load import Measurement, Scenario, measure, require_wrk, run_wrk

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVICE_FACTORY = "service.app:create_app"
YARDSTICK_FACTORY = "bench.yardstick_app:create_app"
TARGET_RATIO = 1.0
TARGET_P99_MS = 100.0


def scenarios(users: int, connection_levels: list[int]) -> list[Scenario]:
    planned = [Scenario("earn", 1, 0, 0, users, c) for c in connection_levels]
    planned += [Scenario("mix", 0.6, 0.3, 0.1, users, c) for c in connection_levels]
    first = connection_levels[0]
    return planned + [Scenario("hot-row", 1, 0, 0, 1, first), Scenario("balance", 0, 1, 0, users, first)]


BENCH_CATALOGUE = Path(__file__).resolve().parent / "economy_bench.toml"


def server_env(database_url: str, jwt_secret: str, workers: int, pool_max: int) -> dict[str, str]:
    """Production settings with throw-away secrets, so the service runs as it would deployed
    (the load drives few users hard, so the per-user wallet limit is lifted)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        JWT_SECRET=jwt_secret,
        AF_SECRET=secrets.token_urlsafe(32),
        ADMIN_TOKEN=secrets.token_urlsafe(32),
        ENVIRONMENT="production",
        ALLOWED_ORIGINS="https://bench.invalid",
        WEB_WORKERS=str(workers),
        DB_POOL_MAX=str(pool_max),
        # Production refuses several workers without a shared rate-limit store.
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        RATE_LIMIT_KEY_PREFIX=f"bench-{secrets.token_hex(4)}:",
        SERVER_KEY=secrets.token_urlsafe(32),
        AUTH_ALLOW_BARE_LOGIN="false",
        ECONOMY_FILE=str(BENCH_CATALOGUE),
        WALLET_RATE_LIMIT="1000000/second",
        PYTHONPATH=os.pathsep.join(filter(None, [str(pg.REPO_ROOT), env.get("PYTHONPATH")])),
    )
    return env


def run_app(
    app: str,
    args: argparse.Namespace,
    secret: str,
    tokens: Path,
    work: Path,
    has_service: bool,
    results: list[Measurement],
) -> dict[str, float]:
    """All of one app's scenarios on its own fresh database, appended to `results` as they
    finish; for the yardstick also pgbench, whose figures are returned."""
    database = pg.new_database_name(app)
    print(f"[{app}] database {database}")
    url = pg.create_database(database)
    try:
        env = server_env(url, secret, args.workers, args.pool_max)
        if has_service:
            pg.migrate_with_service(env)
        else:
            pg.apply_fallback_schema(url)
        pg.seed_users(url, args.users)
        factory = SERVICE_FACTORY if app == "service" else YARDSTICK_FACTORY
        server = start_server(app, factory, args.workers, env, work)
        try:
            for scenario in scenarios(args.users, args.connections):
                if args.scenarios and scenario.name not in args.scenarios:
                    continue
                result = measure(
                    app,
                    server.base_url,
                    server.process.pid,
                    lambda: pg.backend_pids(database),
                    scenario,
                    tokens,
                    args.warmup,
                    args.duration,
                    args.threads,
                )
                print("  " + format_row(result), flush=True)
                results.append(result)
                if args.profile and scenario.name != "hot-row":
                    profile(app, server.process.pid, server.base_url, scenario, tokens, args)
        finally:
            stop_server(server)
        if app != "yardstick" or args.pgbench_clients == 0:
            return {}
        alone = pgbench_earn(url, args.users, args.pgbench_clients, args.duration)
        print(f"  postgres alone (pgbench, {args.pgbench_clients} clients): {alone}", flush=True)
        return alone
    finally:
        pg.drop_database(database)


def profile(
    app: str, server_pid: int, base_url: str, scenario: Scenario, tokens: Path, args: argparse.Namespace
) -> None:
    """An extra, unmeasured run under py-spy (sampling costs CPU, so figures come from above)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    output = RESULTS_DIR / f"profile-{app}-{scenario.name}-c{scenario.connections}.txt"
    recorder = start_recording(server_pid, args.duration, output)
    run_wrk(base_url, scenario, tokens, args.duration + 1, args.threads)
    recorder.wait(timeout=60)
    print(summarise(output, top=args.profile_top))


HEADER = (
    f"{'app':<10} {'scenario':<8} {'conns':>5} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7}"
    f" {'p99 ms':>7} {'err %':>6} {'srv CPU':>8} {'pg CPU':>7} {'wrk CPU':>7} {'load1':>5}"
)


def format_row(m: Measurement) -> str:
    return (
        f"{m.app:<10} {m.scenario:<8} {m.connections:>5} {m.requests_per_s:>8.0f}"
        f" {m.p50_ms:>7.1f} {m.p95_ms:>7.1f} {m.p99_ms:>7.1f} {100 * m.error_rate:>6.2f}"
        f" {m.server_cpu_us_per_request:>8.0f} {m.postgres_cpu_us_per_request:>7.0f}"
        f" {m.wrk_cpu_us_per_request:>7.0f} {m.load_after[0]:>5.2f}"
    )


# Throughput of failing requests says nothing: no ratio when either side errs this often.
MAX_ERROR_RATE_FOR_RATIO = 0.01


Ratios = dict[str, dict[str, float] | None]


def _cpu_per_request(m: Measurement) -> float:
    return m.server_cpu_us_per_request + m.postgres_cpu_us_per_request + m.wrk_cpu_us_per_request


def ratios(results: list[Measurement]) -> Ratios:
    """Per scenario and level, service/yardstick: `throughput` (requests/s, as measured) and
    `cpu_cost` (yardstick's CPU per request over the service's: the throughput ratio a
    CPU-bound box converges to, steadier than requests/s while others load the cores).
    None when either side erred."""
    by_key = {(m.app, m.scenario, m.connections): m for m in results}
    found: Ratios = {}
    for (app, scenario, connections), service in by_key.items():
        yardstick = by_key.get(("yardstick", scenario, connections))
        if app != "service" or yardstick is None:
            continue
        key = f"{scenario}@{connections}"
        if max(service.error_rate, yardstick.error_rate) > MAX_ERROR_RATE_FOR_RATIO:
            found[key] = None
            continue
        found[key] = {
            "throughput": round(service.requests_per_s / yardstick.requests_per_s, 3),
            "cpu_cost": round(_cpu_per_request(yardstick) / _cpu_per_request(service), 3),
        }
    return found


def print_report(results: list[Measurement], found_ratios: Ratios, alone: dict[str, float]) -> None:
    print("\n" + HEADER)
    print("-" * len(HEADER))
    for m in results:
        print(format_row(m))
    print(
        "srv / pg / wrk CPU: CPU microseconds per request used by the app's processes / by the"
        " PostgreSQL backends serving its database / by wrk; load1: 1-min load average after"
        " the run (other helpers share the 2 cores)."
    )
    if alone:
        print(
            f"PostgreSQL alone, same transaction via pgbench ({alone['clients']} clients):"
            f" {alone['tps']:.0f} tx/s, mean latency {alone['latency_avg_ms']:.1f} ms"
        )
    for key, ratio in found_ratios.items():
        if ratio is None:
            print(f"service/yardstick {key}: n/a (over {MAX_ERROR_RATE_FOR_RATIO:.0%} errors)")
            continue
        verdict = "meets" if ratio["throughput"] >= TARGET_RATIO else "BELOW"
        print(
            f"service/yardstick {key}: {ratio['throughput']:.2f}x requests/s ({verdict} the"
            f" {TARGET_RATIO}x target); {ratio['cpu_cost']:.2f}x by CPU per request"
        )
    for m in results:
        if m.app == "service" and m.scenario == "earn" and m.connections == 64:
            verdict = "meets" if m.p99_ms < TARGET_P99_MS else "MISSES"
            if m.error_rate > MAX_ERROR_RATE_FOR_RATIO:
                verdict = "n/a: errors"
            print(
                f"service /earn p99 at 64 connections: {m.p99_ms:.1f} ms ({verdict} the"
                f" {TARGET_P99_MS:.0f} ms target)"
            )


def write_json(
    results: list[Measurement], found_ratios: Ratios, alone: dict[str, float], args: argparse.Namespace
) -> Path:
    stamp = datetime.now(UTC)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"api_load-{stamp:%Y%m%dT%H%M%SZ}.json"
    document = {
        "finished_at": stamp.isoformat(),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.api_load", *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "config": {k: v for k, v in vars(args).items()},
        "measurements": [m.as_dict() for m in results],
        "ratios": found_ratios,
        "postgres_alone_pgbench": alone,
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["service", "yardstick"], help="run one app only")
    parser.add_argument(
        "--scenarios",
        type=lambda s: sorted(s.split(",")),
        default=None,
        help="comma-separated subset of earn,mix,hot-row,balance (default all)",
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--connections",
        type=lambda s: [int(c) for c in s.split(",")],
        default=[64, 256],
        help="comma-separated levels (default 64,256)",
    )
    parser.add_argument("--duration", type=int, default=15, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds before each")
    parser.add_argument("--workers", type=int, default=2, help="Sanic worker processes")
    parser.add_argument("--pool-max", type=int, default=20, help="DB connections per worker")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (they share the CPUs)")
    parser.add_argument(
        "--pgbench-clients",
        type=int,
        default=16,
        help="clients for the PostgreSQL-alone pgbench run (0: skip it)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each scenario but hot-row, one more run under py-spy; prints"
        " where the server's CPU goes and keeps bench/results/profile-*.txt",
    )
    parser.add_argument("--profile-top", type=int, default=25, help="rows per profile section")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    require_wrk()
    has_service = pg.service_available()
    apps = [a for a in ("service", "yardstick") if args.only in (None, a)]
    if "service" in apps and not has_service:
        print("the service package is not importable; running the yardstick only")
        apps = ["yardstick"]
    secret = secrets.token_urlsafe(48)
    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()} users={args.users} "
        f"warmup={args.warmup}s duration={args.duration}s workers={args.workers}"
    )
    results: list[Measurement] = []
    alone: dict[str, float] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as work_dir:
        work = Path(work_dir)
        tokens = work / "tokens.lua"
        pg.write_token_table(tokens, secret, args.users)
        for app in apps:
            try:
                alone = run_app(app, args, secret, tokens, work, has_service, results) or alone
            except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as e:
                # One app failing (say PostgreSQL out of connections) still reports the other.
                failures.append(f"{app}: {e}")
                print(f"[{app}] FAILED: {e}", flush=True)
    found_ratios = ratios(results)
    print_report(results, found_ratios, alone)
    print(f"\nresults written to {write_json(results, found_ratios, alone, args)}")
    if failures:
        sys.exit("failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
