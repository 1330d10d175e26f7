"""Connection-scale benchmark: N concurrently open keep-alive connections, one player each.

Every session opens its own connection, logs in, waits until all N sessions are connected and
logged in (so N connections are open at once), then on the same connection does a few
POST /earn and POST /event calls and a GET /balance, waits for every session to finish, and
closes. Prints completed sessions, error rate, p50/p95/p99 per phase, the server's own
`http_connections_open` at the peak, the machine load, and CPU per request of this client, the
server and PostgreSQL. Then, as the yardstick, the same requests from 64 sessions (each
repeating its requests) on a fresh server: `afterRampVsBaseline` is the after-ramp throughput
over that baseline's, both measured with this same client on this same box.

By default it starts the service itself: `python -m service serve --workers W` on a free
loopback port over a fresh, migrated PostgreSQL database (bench/scratch_database.py), dropped at
the end. `--url` points it at a running server instead.

    .venv/bin/python -m bench.connections                      # 10,000 sessions, 2 workers
    .venv/bin/python -m bench.connections --sessions 2000 --workers 4

The client is asyncio streams + h11 (the HTTP/1.1 state machine httpx uses) on uvloop: a
full httpx client per connection costs more CPU than the server on this 2-core box.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import h11
import uvloop

from bench.scratch_database import REPO_ROOT, scratch_database
from bench.servers import cpu_seconds, cpu_used_since, process_group_members

READY_TIMEOUT_SECONDS = 90
ADMIN_TOKEN = "bench-admin-token-" + "x" * 32


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> responses
    failures: dict[str, int] = field(default_factory=dict)
    sessions_done: int = 0
    opened: int = 0

    def record(self, phase: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(phase, []).append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


class ServerClosed(ConnectionError):
    """The server ended keep-alive (Connection: close) on a response."""


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = h11.Connection(our_role=h11.CLIENT)
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, timeout: float) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout
        )

    async def request(
        self, method: str, target: str, token: str | None = None, body: dict | None = None
    ) -> tuple[int, dict]:
        payload = json.dumps(body).encode() if body is not None else b""
        headers = [("Host", self.host), ("Content-Length", str(len(payload)))]
        if body is not None:
            headers.append(("Content-Type", "application/json"))
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        data = self.conn.send(h11.Request(method=method, target=target, headers=headers))
        data += self.conn.send(h11.Data(data=payload)) if payload else b""
        data += self.conn.send(h11.EndOfMessage())
        self.writer.write(data)
        status, chunks = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                received = await self.reader.read(65536)
                self.conn.receive_data(received)
                if not received and self.conn.their_state is not h11.DONE:
                    raise ConnectionError("server closed the connection")
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
        if self.conn.our_state is h11.MUST_CLOSE:
            raise ServerClosed(f"Connection: close after a {status} on {target}")
        self.conn.start_next_cycle()
        raw = b"".join(chunks)
        return status, (json.loads(raw) if raw else {})

    def close(self) -> None:
        self.writer.close()


class Barrier:
    """Releases its waiters once `total` sessions have arrived (failed ones arrive too)."""

    def __init__(self, total: int) -> None:
        self.total, self.arrived, self.event = total, 0, asyncio.Event()

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.total:
            self.event.set()


async def session(
    index: int,
    args: argparse.Namespace,
    stats: Stats,
    logged_in: Barrier,
    worked: Barrier,
    connect_slots: asyncio.Semaphore,
) -> None:
    """One player on one connection; arrives at each barrier exactly once, whatever happens."""
    client = Client(args.host, args.port)
    barriers_left = [logged_in, worked]

    def arrive() -> None:
        barriers_left.pop(0).arrive()

    try:
        async with connect_slots:
            await client.open(timeout=args.connect_timeout)
        stats.opened += 1
        started = time.perf_counter()
        status, body = await client.request("POST", "/login", body={"userId": f"conn-{index}"})
        stats.record("login", time.perf_counter() - started, status)
        token = body.get("token")
        arrive()
        if not token:
            return
        await logged_in.event.wait()
        ok = True
        steps = [("earn", "POST", "/earn", {"amount": 10, "reason": "bench"})] * args.earns
        steps += [("event", "POST", "/event", {"eventType": "level_up"})] * args.events
        steps += [("balance", "GET", "/balance", None)]
        for phase, method, target, payload in steps * args.rounds:
            if args.think:  # a player pauses between actions; spreads the herd over time
                await asyncio.sleep(random.uniform(0, args.think))
            started = time.perf_counter()
            status, _ = await client.request(method, target, token=token, body=payload)
            stats.record(phase, time.perf_counter() - started, status)
            ok = ok and 200 <= status < 300
        stats.sessions_done += ok
        arrive()
        # Hold the connection until every session is done, so all stay open concurrently.
        await worked.event.wait()
    except (TimeoutError, OSError, ConnectionError, h11.ProtocolError) as exc:
        stats.fail(f"{'request' if client.writer else 'connect'}:{type(exc).__name__}: {str(exc)[:80]}")
    finally:
        while barriers_left:
            arrive()
        if client.writer:
            client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def scrape_connections_open(base_url: str) -> float | None:
    request = urllib.request.Request(base_url + "/metrics", headers={"X-Admin-Token": ADMIN_TOKEN})
    try:
        text = urllib.request.urlopen(request, timeout=10).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("http_connections_open "):
            return float(line.split()[1])
    return None


async def run_load(args: argparse.Namespace, base_url: str) -> dict:
    stats = Stats()
    logged_in, worked = Barrier(args.sessions), Barrier(args.sessions)
    slots = asyncio.Semaphore(args.connect_concurrency)
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(session(i, args, stats, logged_in, worked, slots)) for i in range(args.sessions)
    ]
    await logged_in.event.wait()
    ramp_seconds = time.perf_counter() - started
    peak_server = await asyncio.to_thread(scrape_connections_open, base_url)
    work_started = time.perf_counter()
    cpu_before = CpuSnapshot.take(args.server_group)
    await worked.event.wait()
    work_seconds = time.perf_counter() - work_started
    cpu_used = cpu_before.used_since()
    load_during = os.getloadavg()
    await asyncio.gather(*tasks)
    requests = sum(len(v) for v in stats.latencies.values())
    work_requests = requests - len(stats.latencies.get("login", []))
    errors = sum(n for status, n in stats.statuses.items() if not 200 <= status < 300)
    errors += sum(stats.failures.values())
    return {
        "sessions": args.sessions,
        "connectionsOpened": stats.opened,
        "serverConnectionsOpenAtPeak": peak_server,
        "sessionsCompleted": stats.sessions_done,
        "requests": requests,
        "errors": errors,
        "errorRate": errors / max(1, requests + sum(stats.failures.values())),
        "statuses": stats.statuses,
        "failures": stats.failures,
        "rampSeconds (connect + login all)": round(ramp_seconds, 2),
        "workSeconds (earns, events, balance)": round(work_seconds, 2),
        "requestsPerSecondAfterRamp": round(work_requests / work_seconds, 1),
        # Where the box's CPU went after the ramp: this client shares the cores with the server.
        "cpuMicrosecondsPerRequestAfterRamp": {
            who: round(seconds * 1e6 / max(work_requests, 1)) for who, seconds in cpu_used.items()
        },
        "latencyMs": {
            phase: {f"p{int(q * 100)}": round(percentile(v, q) * 1000, 1) for q in (0.5, 0.95, 0.99)}
            for phase, v in sorted(stats.latencies.items())
        },
        "allRequestsMs": {
            f"p{int(q * 100)}": round(
                percentile([x for v in stats.latencies.values() for x in v], q) * 1000, 1
            )
            for q in (0.5, 0.95, 0.99)
        },
        "loadAverageAfterWork": [round(x, 2) for x in load_during],
    }


def _postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() == "postgres":
                    pids.append(int(entry))
        except (OSError, ValueError):
            continue
    return pids


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far of this client, the spawned server's processes (none with --url) and
    every PostgreSQL process."""

    client: float
    server: dict[int, float]
    postgres: dict[int, float]

    @classmethod
    def take(cls, server_group: int | None) -> CpuSnapshot:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            client=usage.ru_utime + usage.ru_stime,
            server=cpu_seconds(process_group_members(server_group)) if server_group else {},
            postgres=cpu_seconds(_postgres_pids()),
        )

    def used_since(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "client": usage.ru_utime + usage.ru_stime - self.client,
            "server": cpu_used_since(self.server),
            "postgres": cpu_used_since(self.postgres),
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def spawned_service(workers: int, pool_max: int, log_dir: Path) -> Iterator[tuple[int, int]]:
    """The real service (`python -m service serve`) on a fresh PostgreSQL database; its port."""
    port, log_path = _free_port(), log_dir / "server.log"
    with scratch_database("conn") as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "JWT_SECRET": secrets.token_hex(32),
            "AF_SECRET": secrets.token_hex(16),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "DB_POOL_MAX": str(pool_max),
            "WEB_WORKERS": str(workers),
            "ENVIRONMENT": "development",
            "DATA_DIR": str(log_dir),
            "REPORTS_DIR": str(log_dir),
            "LOG_LEVEL": "WARNING",
            # Every simulated player logs in from 127.0.0.1, and a baseline session sends hundreds of
            # requests a second: the per-IP and per-user limits are not under test.
            "LOGIN_RATE_LIMIT": "1000000/minute",
            "WALLET_RATE_LIMIT": "1000000/second",
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=raise_nofile_limit,
            )
        try:
            _wait_healthy(port, process, log_path)
            yield port, process.pid
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _wait_healthy(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("service did not become healthy:\n" + log_path.read_text()[-3000:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connections", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--earns", type=int, default=3)
    parser.add_argument("--events", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=20, help="DB_POOL_MAX per worker")
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=500,
        help="connection attempts in flight at once (the listen backlog is finite)",
    )
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="each request waits a random 0..THINK seconds first (0: all at once)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="times each session repeats its requests")
    parser.add_argument(
        "--baseline-sessions",
        type=int,
        default=64,
        help="then the same requests from this many sessions on a fresh server, as the yardstick "
        "for after-ramp throughput (0: skip; not with --url)",
    )
    parser.add_argument("--url", help="a running server instead of spawning one")
    args = parser.parse_args(argv)
    args.server_group = None
    limit = raise_nofile_limit()
    if limit < args.sessions + 100:
        print(f"RLIMIT_NOFILE is {limit}; need more than {args.sessions}", file=sys.stderr)
        return 2
    uvloop.install()
    if args.url:
        result = _run(args, args.url.rstrip("/"))
    else:
        result = _run_spawned(args)
        if args.baseline_sessions > 0:
            # The same requests from few connections, same client, same box: what the ramp to
            # `sessions` connections costs, free of this client's own CPU share.
            baseline = argparse.Namespace(**vars(args))
            baseline.sessions = args.baseline_sessions
            baseline.rounds = math.ceil(args.sessions * args.rounds / args.baseline_sessions)
            measured = _run_spawned(baseline)
            result["baseline"] = {
                key: measured[key]
                for key in ("sessions", "errors", "requestsPerSecondAfterRamp", "allRequestsMs")
            } | {"rounds": baseline.rounds, "cpu": measured["cpuMicrosecondsPerRequestAfterRamp"]}
            result["afterRampVsBaseline"] = round(
                result["requestsPerSecondAfterRamp"] / measured["requestsPerSecondAfterRamp"], 3
            )
    result.update(
        workers=args.workers, poolMaxPerWorker=args.pool_max, cpus=os.cpu_count(), thinkSeconds=args.think
    )
    print(json.dumps(result, indent=2))
    return 0


def _run_spawned(args: argparse.Namespace) -> dict:
    with (
        tempfile.TemporaryDirectory(prefix="bench-connections-") as tmp,
        spawned_service(args.workers, args.pool_max, Path(tmp)) as (port, server_group),
    ):
        args.server_group = server_group
        return _run(args, f"http://127.0.0.1:{port}")


def _run(args: argparse.Namespace, base_url: str) -> dict:
    parts = urlsplit(base_url)
    args.host, args.port = parts.hostname, parts.port or 80
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    return asyncio.run(run_load(args, base_url))


if __name__ == "__main__":
    sys.exit(main())
