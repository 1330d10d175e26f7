"""Real `python -m service serve` processes on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stops the manager and its workers: the whole process group, also when the manager
        is already gone. A SIGINT that reaches Sanic's manager before every worker has
        acknowledged start-up makes it spin forever (sanic-org/sanic#2997, fix in PR #3063);
        SIGKILLing only the manager then left its SyncManager process and workers running,
        re-parented to init and polling a database the session had dropped."""
        group = self.process.pid  # start_new_session: the manager leads its own group
        _signal_group(group, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        # Workers that outlive the manager (or a manager that ignored SIGINT) are killed.
        _signal_group(group, signal.SIGKILL)
        self.process.wait()
        _reap_group(group)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nobody left in the group
        os.killpg(group, signum)


def _reap_group(group: int) -> None:
    """Waits for the group's killed members that are our children: under the session's
    subreaper (tests/process_leaks.py) the manager's orphans are re-parented to pytest."""
    while True:
        try:
            os.waitpid(-group, 0)
        except ChildProcessError:
            return


def _wait_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            server.stop()  # its workers may still be running
            raise RuntimeError(f"live server exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"live server did not become healthy:\n{server.log()}")


@dataclass
class LiveServerPool:
    """Starts servers on demand and keeps one per (database, workers, env) until stop_all()."""

    log_dir: Path
    env_for: Callable[[str], dict[str, str]]
    servers: dict[tuple, LiveServer] = field(default_factory=dict)

    def __call__(self, database_url: str, workers: int = 1, env: dict[str, str] | None = None) -> LiveServer:
        key = (database_url, workers, tuple(sorted((env or {}).items())))
        server = self.servers.get(key)
        if server is None or server.process.poll() is not None:
            if server is not None:
                server.stop()  # the manager died; its workers may not have
            server = self._start(database_url, workers, env or {})
            self.servers[key] = server
        return server

    def _start(self, database_url: str, workers: int, extra_env: dict[str, str]) -> LiveServer:
        port = free_port()
        log_path = self.log_dir / f"server-{port}.log"
        env = {**os.environ, **self.env_for(database_url), **extra_env, "PYTHONUNBUFFERED": "1"}
        command = [
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
        ]
        with log_path.open("wb") as log_file:
            # Own session: when a worker fails to start, Sanic SIGKILLs its process group,
            # which would otherwise include this test run.
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
        _wait_healthy(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
