"""Drive one scenario with wrk and bench/load_mix.lua; parse the JSON its done() prints."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.servers import cpu_seconds, cpu_used_since, process_group_members

LUA_SCRIPT = Path(__file__).resolve().parent / "load_mix.lua"
WRK_INSTALL_HINT = "wrk not found: install it with `apt-get update && apt-get install -y wrk`."


@dataclass(frozen=True)
class Scenario:
    name: str
    earn: float
    balance: float
    event: float
    users: int
    connections: int
    reason: str = "bench"


@dataclass
class Measurement:
    scenario: str
    app: str
    connections: int
    users: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_rate: float
    server_cpu_us_per_request: float
    postgres_cpu_us_per_request: float
    wrk_cpu_us_per_request: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit(WRK_INSTALL_HINT)
    return path


def run_wrk(
    base_url: str, scenario: Scenario, tokens_path: Path, seconds: int, threads: int
) -> dict[str, float]:
    command = [
        require_wrk(),
        f"-t{threads}",
        f"-c{scenario.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        base_url,
        "--",
        f"tokens={tokens_path}",
        f"users={scenario.users}",
        f"earn={scenario.earn}",
        f"balance={scenario.balance}",
        f"event={scenario.event}",
        f"reason={scenario.reason}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in completed.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line.removeprefix("WRK_JSON "))
    raise RuntimeError(f"wrk printed no summary:\n{completed.stdout}\n{completed.stderr}")


def measure(
    app: str,
    base_url: str,
    server_group: int,
    postgres_pids: Callable[[], list[int]],
    scenario: Scenario,
    tokens_path: Path,
    warmup_s: int,
    duration_s: int,
    threads: int,
) -> Measurement:
    """Warm up, then measure: throughput, latency percentiles, errors and CPU per request."""
    if warmup_s > 0:
        run_wrk(base_url, scenario, tokens_path, warmup_s, threads)
    load_before = os.getloadavg()
    server_before = cpu_seconds(process_group_members(server_group))
    postgres_before = cpu_seconds(postgres_pids())
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    raw = run_wrk(base_url, scenario, tokens_path, duration_s, threads)
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (
        client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime
    )
    server_cpu = cpu_used_since(server_before)
    postgres_cpu = cpu_used_since(postgres_before)
    requests = int(raw["requests"])
    errors = int(
        raw["non_2xx_3xx"]
        + raw["errors_read"]
        + raw["errors_write"]
        + raw["errors_timeout"]
        + raw["errors_connect"]
    )
    per_request = 1e6 / max(requests, 1)
    return Measurement(
        scenario=scenario.name,
        app=app,
        connections=scenario.connections,
        users=scenario.users,
        duration_s=round(raw["duration_us"] / 1e6, 2),
        requests=requests,
        requests_per_s=round(requests / (raw["duration_us"] / 1e6), 1),
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["latency_max_us"] / 1000,
        errors=errors,
        error_rate=errors / max(requests, 1),
        server_cpu_us_per_request=round(server_cpu * per_request, 1),
        postgres_cpu_us_per_request=round(postgres_cpu * per_request, 1),
        wrk_cpu_us_per_request=round(client_cpu * per_request, 1),
        load_before=tuple(round(x, 2) for x in load_before),
        load_after=tuple(round(x, 2) for x in os.getloadavg()),
    )
