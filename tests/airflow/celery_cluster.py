"""A real Airflow 3 on CeleryExecutor on this machine, for tests (SPEC §6 "Distributed execution").

Components, each its own process group with its own log under the Airflow home: api-server
(REST API v2 + execution API), scheduler, dag-processor and `airflow celery worker` x N. The
broker is the local Redis (a dedicated db number, and a queue unique to the cluster so that
concurrent test sessions never take each other's tasks); metadata and Celery results live in
a scratch PostgreSQL database (synchronous psycopg driver). ``celery_cluster`` always stops
every process and drops the database, also when start-up or the test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.airflow.harness import AIRFLOW, _group_alive, _wait_for_dag, airflow_env
from tests.dbs import create_postgres_database, drop_postgres_database, postgres_unreachable_reason
from tests.live import free_port

# Db 15 belongs to the rate-limit tests; the Celery broker keeps its keys apart in db 13.
CELERY_REDIS_URL = os.environ.get("TEST_CELERY_REDIS_URL", "redis://127.0.0.1:6379/13")
STOP_GRACE_SECONDS = 10


def unavailable_reason(redis_url: str = CELERY_REDIS_URL) -> str | None:
    """Why a Celery cluster cannot start here (Redis or PostgreSQL unreachable), else None."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} is unreachable: {exc!r}"
    finally:
        client.close()
    return postgres_unreachable_reason()


def sqlalchemy_url(postgres_url: str) -> str:
    """tests.dbs' asyncpg-style URL for SQLAlchemy's synchronous psycopg 3 driver."""
    return "postgresql+psycopg://" + postgres_url.split("://", 1)[1]


@dataclass
class CeleryCluster:
    base_url: str
    home: Path
    queue: str
    username: str
    password: str
    process: subprocess.Popen | None = None  # the api-server: what harness._wait_for_dag watches
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, tail: int = 2500) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.home / f'{name}.log').read_text(errors='replace')[-tail:]}"
            for name in self.processes
        )

    def headers(self) -> dict[str, str]:
        token = httpx.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=10,
        )
        token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def trigger(self, dag_id: str, conf: dict) -> str:
        """A manual run through the REST API v2 (no logical date, like POST /run-pipeline); its run id.

        DAGs are paused when first parsed (Airflow's default): the run would stay queued.
        """
        unpaused = httpx.patch(
            f"{self.base_url}/api/v2/dags/{dag_id}",
            json={"is_paused": False},
            headers=self.headers(),
            timeout=30,
        )
        assert unpaused.status_code == 200, unpaused.text
        response = httpx.post(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf},
            headers=self.headers(),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout_seconds: float) -> dict:
        """The run as the API reports it once it has finished (or the last answer at the deadline)."""
        headers = self.headers()
        deadline = time.monotonic() + timeout_seconds
        while True:
            run = httpx.get(
                f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=headers, timeout=30
            )
            run.raise_for_status()
            if run.json()["state"] in ("success", "failed") or time.monotonic() > deadline:
                return run.json()
            time.sleep(1)

    def run_ids(self, dag_id: str) -> list[str]:
        response = httpx.get(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", headers=self.headers(), timeout=30
        )
        response.raise_for_status()
        return [run["dag_run_id"] for run in response.json()["dag_runs"]]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, mapped ones one per map index: (task_id, map_index, state,
        hostname)."""
        response = httpx.get(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            params={"limit": 1000},
            headers=self.headers(),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["task_instances"]

    def stop(self) -> None:
        """SIGTERM every component's process group, then SIGKILL what is left after a grace period."""
        for process in self.processes.values():
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            while _group_alive(process.pid) and time.monotonic() < deadline:
                if process.poll() is None:
                    with suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=0.2)
                else:
                    time.sleep(0.2)
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _start(cluster: CeleryCluster, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    with (cluster.home / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [AIRFLOW, *args],
            env=env,
            cwd=cluster.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cluster.processes[name] = process
    return process


def _purge_queue(redis_url: str, queue: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        keys = [queue, *client.scan_iter(f"*{queue}*")]
        client.delete(*keys)
    finally:
        client.close()


def cluster_env(
    home: Path,
    metadata_url: str,
    broker_url: str,
    queue: str,
    api_port: int,
    username: str,
    password: str,
    **task_env: str,
) -> dict[str, str]:
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({username: password}))
    return airflow_env(
        home,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        AIRFLOW__CELERY__BROKER_URL=broker_url,
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+{metadata_url}",
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        # Every component signs or checks the same task tokens.
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{username}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        # Only the runs a test triggers: unpausing would otherwise start the latest scheduled
        # interval too, publishing into the same REPORTS_DIR at the same time.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        **task_env,
    )


@contextmanager
def celery_cluster(
    home: Path,
    username: str,
    password: str,
    workers: int = 2,
    broker_url: str = CELERY_REDIS_URL,
    **task_env: str,
) -> Iterator[CeleryCluster]:
    """Airflow on CeleryExecutor with ``workers`` Celery workers, serving revenue_pipeline; stopped on exit.

    ``task_env`` reaches every component, so tasks see DATA_DIR, REPORTS_DIR, DATABASE_URL, ...
    """
    home.mkdir(parents=True, exist_ok=True)
    database = create_postgres_database("airflow_celery")
    api_port = free_port()
    queue = f"revenue-test-{os.getpid()}-{secrets.token_hex(4)}"
    cluster = CeleryCluster(f"http://127.0.0.1:{api_port}", home, queue, username, password)
    env = cluster_env(
        home, sqlalchemy_url(database), broker_url, queue, api_port, username, password, **task_env
    )
    try:
        migrated = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, cwd=home, capture_output=True, text=True, timeout=180
        )
        assert migrated.returncode == 0, (
            f"airflow db migrate failed:\n{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}"
        )
        cluster.process = _start(cluster, "api-server", ["api-server", "--port", str(api_port)], env)
        _start(cluster, "scheduler", ["scheduler"], env)
        _start(cluster, "dag-processor", ["dag-processor"], env)
        for number in range(1, workers + 1):
            _start(
                cluster,
                f"worker{number}",
                [
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"worker{number}@%h",
                    "--queues",
                    queue,
                    "--skip-serve-logs",
                    "--without-gossip",
                    "--without-mingle",
                ],
                env,
            )
        _wait_for_dag(cluster, username, password)
        yield cluster
    finally:
        cluster.stop()
        _purge_queue(broker_url, queue)
        drop_postgres_database(database)
