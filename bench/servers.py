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
        sys.executable, "-m", "sanic", app_factory, "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-logs", "--no-motd",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
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
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    return [name, *raw[raw.rindex(")") + 2 :].split()]


def cpu_seconds(process_group: int | None = None, command_name: str | None = None) -> float:
    """Total user+system CPU of live processes in a process group or with a command name."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat_fields(int(entry))
        if fields is None:
            continue
        # After the name: state(1) ppid(2) pgrp(3) ... utime(12) stime(13).
        in_group = process_group is not None and int(fields[3]) == process_group
        named = command_name is not None and fields[0] == command_name
        if in_group or named:
            ticks += int(fields[12]) + int(fields[13])
    return ticks / CLOCK_TICKS
