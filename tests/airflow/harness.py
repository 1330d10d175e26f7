"""Helpers for tests that need Airflow: its environment, a migrated metadata database, a real
`airflow standalone` on free loopback ports, and the service database's raw_postbacks.

Airflow is only ever imported in child processes here: its import configures logging and
reads AIRFLOW_HOME once, which must not leak into the rest of the test session.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tortoise.context import TortoiseContext

from revenue import synth
from service.config import Settings
from service.db import tortoise_config
from service.models import RawPostback
from service.pipeline_runs.embedded import airflow_env as embedded_airflow_env
from service.pipeline_runs.embedded import airflow_home_env
from tests.conftest import service_env
from tests.live import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
START_TIMEOUT_SECONDS = 150
# Tasks fail fast in tests: one retry, no wait (the DAG reads these when it is parsed).
FAST_RETRIES = {"PIPELINE_TASK_RETRIES": "1", "PIPELINE_RETRY_DELAY_SECONDS": "0"}
SYNTH_ROWS = 600
SYNTH_SEED = 7
REPORT_DATE = synth.END_DATE.isoformat()


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        # `airflow standalone` starts its components by running `airflow` from PATH.
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **airflow_home_env(home),
        **FAST_RETRIES,
        **extra,
    }


def migrate_airflow_metadata(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=airflow_env(home), capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, (
        f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return home / "airflow.db"


def seed_airflow_home(home: Path, template_db: Path) -> Path:
    """An Airflow home whose metadata database is a copy of an already migrated one."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template_db, home / "airflow.db")
    return home


def pipeline_settings(
    tmp_path: Path, database_url: str, synth_inputs: Path, template: Path, **extra: str
) -> Settings:
    """Settings of a service whose DATA_DIR holds the generated inputs and a ready embedded Airflow home."""
    data_dir = tmp_path / "data"
    shutil.copytree(synth_inputs, data_dir)
    settings = Settings(
        _env_file=None,
        **{
            **service_env(database_url),
            "DATA_DIR": str(data_dir),
            "REPORTS_DIR": str(tmp_path / "reports"),
            **extra,
        },
    )
    seed_airflow_home(Path(embedded_airflow_env(settings)["AIRFLOW_HOME"]), template)
    return settings


@dataclass
class AirflowServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        """End standalone and every component it started: they share its process group."""
        group = self.process.pid
        if self.process.poll() is None:
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        # Components (api-server workers) may outlive standalone for a graceful shut-down we
        # need not wait for.
        deadline = time.monotonic() + 3
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(group):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def start_airflow_standalone(home: Path, username: str, password: str, **task_env: str) -> AirflowServer:
    """`airflow standalone` on free loopback ports, with the simple auth manager and one user."""
    port = free_port()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({username: password}))
    env = airflow_env(
        home,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        # Tasks report to the execution API of *this* server (SPEC §6 field notes).
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{username}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        **task_env,
    )
    log_path = home / "standalone.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [AIRFLOW, "standalone"],
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AirflowServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_for_dag(server, username, password)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_dag(server: AirflowServer, username: str, password: str) -> None:
    """Until the API answers and the dag-processor has serialised revenue_pipeline."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited early:\n{server.log()}")
        try:
            token = httpx.post(
                f"{server.base_url}/auth/token", json={"username": username, "password": password}, timeout=5
            )
            if token.status_code == 201:
                headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                dag = httpx.get(f"{server.base_url}/api/v2/dags/revenue_pipeline", headers=headers, timeout=5)
                if dag.status_code == 200:
                    return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise RuntimeError(f"airflow standalone did not serve revenue_pipeline in time:\n{server.log()}")


async def insert_postbacks(database_url: str, payloads: list[dict], verified: bool = True) -> list[int]:
    """Rows as POST /af/postback stores them: source appsflyer, raw JSON text, unprocessed;
    `verified` as for a signed postback unless told otherwise."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url, pool_max=1))
        now = datetime.now(UTC)
        rows = [
            await RawPostback.create(
                source="appsflyer", payload=json.dumps(p), signature=None, ts_utc=now, verified=verified
            )
            for p in payloads
        ]
        return [row.id for row in rows]


async def processed_flags(database_url: str) -> dict[int, int]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url, pool_max=1))
        return {row["id"]: row["processed"] for row in await RawPostback.all().values("id", "processed")}


def break_sessions_line_5(settings: Settings) -> str:
    """A byte that is not UTF-8 on line 5 of sessions.csv; returns the message that must reach the user."""
    path = Path(settings.DATA_DIR) / "sessions.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4] + [b"2025-11-09,\xff\xfeuser,2025-11-09 10:00:00\n"] + lines[4:]))
    return "sessions.csv: line 5: not UTF-8 (byte 0xff at column 12); save it as UTF-8"
