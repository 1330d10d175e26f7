"""Prometheus metrics: definitions, the functions other code calls, multiprocess collection.

Sanic runs several worker processes, so the metrics use prometheus-client's multiprocess
mode: `prepare_multiproc_dir()` (called by the serve entry point before workers start)
points PROMETHEUS_MULTIPROC_DIR at an empty directory, every process writes its values to
its own mmap files there, and `render_latest()` merges them at scrape time. Without that
variable (tests in one process, CLI runs) the plain in-memory registry is used.

The metric set follows the brief's alert table (§11.2); deploy/prometheus/alerts.yml holds
the rules built on these names, so renaming a metric means changing the rules and their
promtool tests too.

Callers outside this package use only the `record_*`/`*_started` functions below, never the
metric objects, so labels stay bounded and named in one place.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import threading
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# 0.1 s and 0.5 s are the brief's latency target and alert threshold: they must be bucket
# edges or histogram_quantile can only interpolate around them.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# 300 s and 600 s: the pipeline's target and alert threshold.
PIPELINE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)

UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP responses sent, by route pattern (never the raw path), method and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_ERRORS = Counter(
    "http_request_errors_total",
    "HTTP responses with a 4xx or 5xx status, by route pattern and status class.",
    ["route", "status_class"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from request start to response, by route pattern, method and status.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being handled right now (summed over live workers).",
    multiprocess_mode="livesum",
)
HTTP_CONNECTIONS_OPEN = Gauge(
    "http_connections_open",
    "Open client connections, keep-alive ones included (summed over live workers).",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool (summed over live workers).",
    multiprocess_mode="livesum",
)
DB_POOL_OPEN = Gauge(
    "db_pool_connections_open",
    "Database connections the pool holds open, busy or idle (summed over live workers).",
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "db_pool_connections_max",
    "Upper bound of the pool (DB_POOL_MAX per worker, summed over live workers).",
    multiprocess_mode="livesum",
)
IDEMPOTENT_REPLAYS = Counter(
    "idempotent_replays_total",
    "Requests answered from a stored Idempotency-Key response, by endpoint.",
    ["endpoint"],
)
POSTBACKS = Counter(
    "postbacks_total",
    "AppsFlyer postbacks received, by outcome.",
    ["outcome"],
)
WALLET_WRITES = Counter(
    "wallet_writes_total",
    "Committed balance changes (one wallet_ledger row each), by kind.",
    ["kind"],
)
PIPELINE_RUNS = Counter(
    "pipeline_runs_total",
    "Finished revenue pipeline runs, by final state.",
    ["state"],
)
PIPELINE_DURATION = Histogram(
    "pipeline_run_duration_seconds",
    "Wall time of finished revenue pipeline runs, by final state.",
    ["state"],
    buckets=PIPELINE_BUCKETS,
)
PIPELINE_OLDEST_RUNNING_START = Gauge(
    "pipeline_run_oldest_start_timestamp_seconds",
    "Unix start time of the oldest run still in progress in this process, 0 when none "
    "(one series per live process; alert on time() - min(x > 0)).",
    multiprocess_mode="liveall",
)
# Known states exist from the first scrape, so that increase() in the alert rules also counts
# the very first run of a kind (a series born at 1 has no increase to Prometheus).
for _state in ("success", "failed"):
    PIPELINE_RUNS.labels(_state)
    PIPELINE_DURATION.labels(_state)

BALANCE_DISCREPANCIES = Gauge(
    "balance_discrepancies",
    "Users whose balance differs from the sum of their ledger deltas or is negative, "
    "found by the last balance audit.",
    multiprocess_mode="mostrecent",
)
BALANCE_AUDIT_USERS = Gauge(
    "balance_audit_users_checked",
    "Users covered by the last balance audit.",
    multiprocess_mode="mostrecent",
)
BALANCE_AUDIT_DURATION = Gauge(
    "balance_audit_duration_seconds",
    "Wall time of the last balance audit.",
    multiprocess_mode="mostrecent",
)
BALANCE_AUDIT_LAST_SUCCESS = Gauge(
    "balance_audit_last_success_timestamp_seconds",
    "Unix time the last balance audit finished.",
    multiprocess_mode="mostrecent",
)


def status_class(status: int) -> str | None:
    """'4xx'/'5xx' for error statuses, None for the rest."""
    if 400 <= status < 600:
        return f"{status // 100}xx"
    return None


# The series of one (method, route, status), looked up once: `.labels()` converts and
# validates its arguments and takes the metric's lock on every call. Bounded like the labels.
_RequestSeries = tuple[Any, Any, Any | None]
_request_series: dict[tuple[str, str, int], _RequestSeries] = {}


def _series_for(method: str, route: str, status: int) -> _RequestSeries:
    labels = (method, route, str(status))
    error_class = status_class(status)
    series = (
        HTTP_REQUESTS.labels(*labels),
        HTTP_LATENCY.labels(*labels),
        HTTP_REQUEST_ERRORS.labels(route, error_class) if error_class else None,
    )
    _request_series[(method, route, status)] = series
    return series


def record_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """One HTTP response. `route` is the matched route pattern, None when nothing matched."""
    route = route or UNMATCHED_ROUTE
    series = _request_series.get((method, route, status)) or _series_for(method, route, status)
    requests, latency, errors = series
    requests.inc()
    latency.observe(seconds)
    if errors is not None:
        errors.inc()


def request_started() -> None:
    HTTP_IN_FLIGHT.inc()


def request_finished() -> None:
    HTTP_IN_FLIGHT.dec()


def connection_opened() -> None:
    HTTP_CONNECTIONS_OPEN.inc()


def connection_closed() -> None:
    HTTP_CONNECTIONS_OPEN.dec()


def set_db_pool(in_use: int, open_connections: int, max_size: int) -> None:
    """This process's pool figures, sampled periodically by each worker."""
    DB_POOL_IN_USE.set(in_use)
    DB_POOL_OPEN.set(open_connections)
    DB_POOL_MAX.set(max_size)


def record_idempotent_replay(endpoint: str) -> None:
    """A stored response was replayed for `endpoint` (e.g. '/earn')."""
    IDEMPOTENT_REPLAYS.labels(endpoint).inc()


def record_postback(outcome: str) -> None:
    """One postback handled: 'accepted', 'duplicate', 'invalid_signature', 'rejected', ..."""
    POSTBACKS.labels(outcome).inc()


def record_wallet_write(kind: str) -> None:
    """One committed balance change: 'earn' or 'spend'."""
    WALLET_WRITES.labels(kind).inc()


_running_pipeline_starts: dict[str, float] = {}
_running_lock = threading.Lock()


def _publish_oldest_running_start() -> None:
    oldest = min(_running_pipeline_starts.values(), default=0.0)
    PIPELINE_OLDEST_RUNNING_START.set(oldest)


def pipeline_run_started(run_id: str, started_at: float | None = None) -> None:
    """A run began in this process (unix time); `record_pipeline_run` with the same id ends it."""
    with _running_lock:
        _running_pipeline_starts[run_id] = time.time() if started_at is None else started_at
        _publish_oldest_running_start()


def pipeline_run_ended(run_id: str) -> None:
    """The run started with `pipeline_run_started` is over (however it ended)."""
    with _running_lock:
        _running_pipeline_starts.pop(run_id, None)
        _publish_oldest_running_start()


def record_pipeline_run(state: str, seconds: float, run_id: str | None = None) -> None:
    """A pipeline run finished in `state` ('success', 'failed') after `seconds`; count each
    run once. With `run_id`, also ends its in-progress mark."""
    PIPELINE_RUNS.labels(state).inc()
    PIPELINE_DURATION.labels(state).observe(seconds)
    if run_id is not None:
        pipeline_run_ended(run_id)


def record_balance_audit(discrepancies: int, users_checked: int, seconds: float) -> None:
    BALANCE_DISCREPANCIES.set(discrepancies)
    BALANCE_AUDIT_USERS.set(users_checked)
    BALANCE_AUDIT_DURATION.set(seconds)
    BALANCE_AUDIT_LAST_SUCCESS.set(time.time())


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def _values_are_shared() -> bool:
    """Whether this process writes mmap files: decided when prometheus_client was imported."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def render_latest(path: str | None = None) -> tuple[bytes, str]:
    """The exposition body and its content type.

    Merged over every process's files when this process writes them (a server worker) or
    when `path` names such a directory; otherwise this process's own registry (tests, a
    single-process server started without PROMETHEUS_MULTIPROC_DIR).
    """
    path = path or (multiproc_dir() if _values_are_shared() else None)
    if path:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiproc_dir(path: str | None = None) -> tuple[str, bool]:
    """Make PROMETHEUS_MULTIPROC_DIR an empty directory before any worker starts.

    Files left by an earlier server would be summed into this one's counters and its live
    gauges, so they are removed. Returns the path and whether it was created here (then the
    caller removes it on exit with `remove_multiproc_dir`).
    """
    path = path or multiproc_dir()
    created = False
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="prometheus-multiproc-")
        created = True
    os.environ[MULTIPROC_ENV] = path
    return path, created


def remove_multiproc_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def mark_process_dead(pid: int) -> None:
    """Drop a finished process's live gauges (in-flight, connections, pool) from the merge."""
    path = multiproc_dir()
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


_PID_IN_FILENAME = re.compile(r"_(\d+)\.db$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_processes() -> list[int]:
    """Mark every process that left files behind but no longer runs as dead.

    A worker that crashes cannot mark itself; its replacement calls this on start.
    """
    path = multiproc_dir()
    if not path:
        return []
    pids = set()
    for filename in glob.glob(os.path.join(path, "gauge_live*.db")):
        match = _PID_IN_FILENAME.search(filename)
        if match:
            pids.add(int(match.group(1)))
    dead = sorted(pid for pid in pids if not _pid_alive(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    return dead
