"""What the trust boundary costs (issue 9), on PostgreSQL with the service as deployed.

1. Login with a secret (argon2id verify, the hash parameters of service.identity.credentials):
   p50/p95 per login, sequential, against a bare login refused with `credentials_required`
   (same route, same user-row read, no hash) as the yardstick in the same run.
2. POST /earn throughput with wrk, 2 workers, 64 connections: reason `bench` (no caps: the plain
   locked write) against `bench_capped` (daily cap and count, counted from the ledger under the
   lock on every earn; bench/economy_bench.toml), alternated to spread drift; capped/uncapped ratio.

Needs wrk, PostgreSQL (BENCH_DATABASE_URL / TEST_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432) and Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/0). From the repository root:

    .venv/bin/python -m bench.trust_load                  # 3 s warm-up + 10 s per run
    .venv/bin/python -m bench.trust_load --duration 20 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import pg_database as pg
from bench.api_load import SERVICE_FACTORY, server_env
from bench.servers import start_server, stop_server
from bench.wrk_load import Scenario, measure, require_wrk

TARGET_CAPPED_RATIO = 0.9
TARGET_LOGIN_P50_MS = 100.0


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def login_latencies(base_url: str, logins: int) -> dict[str, list[float]]:
    """Milliseconds per login: verified secrets, and the bare-login refusal as yardstick."""
    secret = secrets.token_urlsafe(32)
    timings: dict[str, list[float]] = {"secret": [], "bare_refused": []}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        bound = http.post("/login", json={"userId": "bench_bound", "secret": secret})
        bound.raise_for_status()
        for _ in range(logins):
            for kind, body in (
                ("secret", {"userId": "bench_bound", "secret": secret}),
                ("bare_refused", {"userId": "bench_bound"}),
            ):
                started = time.perf_counter()
                response = http.post("/login", json=body)
                timings[kind].append((time.perf_counter() - started) * 1000)
                expected = 200 if kind == "secret" else 401
                if response.status_code != expected:
                    raise RuntimeError(f"{kind} login answered {response.status_code}: {response.text}")
    return timings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="uncapped/capped pairs")
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    require_wrk()
    jwt_secret = secrets.token_urlsafe(48)
    database = pg.new_database_name("trust")
    url = pg.create_database(database)
    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()} users={args.users} workers={args.workers}"
        f" connections={args.connections} duration={args.duration}s rounds={args.rounds}"
    )
    try:
        # Production with several workers needs the shared rate-limit store (as deployed).
        env = {
            **server_env(url, jwt_secret, args.workers, args.pool_max),
            "LOGIN_RATE_LIMIT": "1000000/minute",
            "LOGIN_FAILURE_LIMIT": "1000000/minute",
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "RATE_LIMIT_KEY_PREFIX": f"bench-trust-{secrets.token_hex(4)}",
        }
        pg.migrate_with_service(env)
        pg.seed_users(url, args.users)
        with tempfile.TemporaryDirectory(prefix="bench-trust-") as work_dir:
            work = Path(work_dir)
            tokens = work / "tokens.lua"
            pg.write_token_table(tokens, jwt_secret, args.users)
            server = start_server("service", SERVICE_FACTORY, args.workers, env, work)
            try:
                timings = login_latencies(server.base_url, args.logins)
                rates: dict[str, list[float]] = {"bench": [], "bench_capped": []}
                for _ in range(args.rounds):
                    for reason in rates:
                        scenario = Scenario(f"earn:{reason}", 1, 0, 0, args.users, args.connections, reason)
                        m = measure(
                            "service",
                            server.base_url,
                            server.process.pid,
                            lambda: pg.backend_pids(database),
                            scenario,
                            tokens,
                            args.warmup,
                            args.duration,
                            args.threads,
                        )
                        if m.error_rate > 0.01:
                            raise RuntimeError(f"{reason}: {m.errors} errors of {m.requests}")
                        print(
                            f"  /earn {reason:<13} {m.requests_per_s:>8.0f} req/s  p50 {m.p50_ms:.1f} ms"
                            f"  p95 {m.p95_ms:.1f} ms  load1 {m.load_after[0]:.2f}",
                            flush=True,
                        )
                        rates[reason].append(m.requests_per_s)
            finally:
                stop_server(server)
    finally:
        pg.drop_database(database)
    secret_p50 = statistics.median(timings["secret"])
    bare_p50 = statistics.median(timings["bare_refused"])
    verdict = "meets" if secret_p50 < TARGET_LOGIN_P50_MS else "MISSES"
    print(
        f"login with secret: p50 {secret_p50:.1f} ms, p95 {_percentile(timings['secret'], 95):.1f} ms"
        f" ({verdict} the {TARGET_LOGIN_P50_MS:.0f} ms target); bare-login refusal (no hash)"
        f" p50 {bare_p50:.1f} ms; ratio {secret_p50 / bare_p50:.1f}x"
    )
    uncapped, capped = statistics.mean(rates["bench"]), statistics.mean(rates["bench_capped"])
    ratio = capped / uncapped
    verdict = "meets" if ratio >= TARGET_CAPPED_RATIO else "BELOW"
    print(
        f"/earn capped {capped:.0f} req/s vs uncapped {uncapped:.0f} req/s: {ratio:.2f}x"
        f" ({verdict} the {TARGET_CAPPED_RATIO}x target)"
    )


if __name__ == "__main__":
    main()
