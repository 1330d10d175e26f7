"""Start and stop an HTTP server under test on a free loopback port; account its CPU time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.pg_database import REPO_ROOT

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    label: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_server(
    label: str, app_factory: str, workers: int, env: dict[str, str], log_dir: Path
) -> RunningServer:
    """Run `sanic <factory> --factory` in its own process group and wait for /health."""
    port = free_port()
    log_path = log_dir / f"{label}.log"
    command = [
        sys.executable,
        "-m",
        "sanic",
        app_factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-logs",
        "--no-motd",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(label, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{label} exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base_url + "/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"{label} not healthy within {READY_TIMEOUT_SECONDS}s:\n{server.log_tail()}")


def stop_server(server: RunningServer) -> None:
    """Stop the server's own process group (the manager and its workers), nothing else."""
    group = server.process.pid
    for sig, grace in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        try:
            server.process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _proc_stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is parenthesised and may hold spaces; fields resume after ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_group_members(group: int) -> list[int]:
    """Live processes whose process group is `group` (a server's manager and workers)."""
    members = []
    for entry in os.listdir("/proc"):
        fields = _proc_stat_fields(int(entry)) if entry.isdigit() else None
        # Fields after the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12).
        if fields is not None and int(fields[2]) == group:
            members.append(int(entry))
    return members


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User+system CPU seconds consumed so far by each still-live process of `pids`."""
    used = {}
    for pid in pids:
        fields = _proc_stat_fields(pid)
        if fields is not None:
            used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def cpu_used_since(before: dict[int, float]) -> float:
    """CPU seconds the processes sampled in `before` used since then (exited ones dropped)."""
    after = cpu_seconds(list(before))
    return sum(after[pid] - before[pid] for pid in after)
