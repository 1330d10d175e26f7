"""service.monitoring.metrics in multiprocess mode: values written by separate processes are merged,
dead processes' live gauges are dropped, and the serve-time directory starts empty."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.monitoring import metrics

ROOT = Path(__file__).resolve().parents[3]


def _run_worker(multiproc_dir: Path, body: str) -> None:
    """Run `body` in a fresh interpreter that sees PROMETHEUS_MULTIPROC_DIR, as a Sanic worker does."""
    code = "from service.monitoring import metrics as m\n" + textwrap.dedent(body)
    env = {**os.environ, metrics.MULTIPROC_ENV: str(multiproc_dir)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


@pytest.fixture
def multiproc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    return tmp_path


def test_counters_and_histograms_are_summed_over_processes(multiproc_dir: Path) -> None:
    for seconds in (0.03, 0.7):
        _run_worker(
            multiproc_dir,
            f"""
            m.record_request("POST", "/earn", 200, {seconds})
            m.record_request("POST", "/earn", 503, 0.002)
            m.record_wallet_write("earn")
            m.record_idempotent_replay("/earn")
            m.record_postback("accepted")
            m.record_pipeline_run("success", 42.0)
        """,
        )
    body, content_type = metrics.render_latest(str(multiproc_dir))
    assert content_type.startswith("text/plain")
    samples = _samples(body)
    ok = (("method", "POST"), ("route", "/earn"), ("status", "200"))
    assert samples[("http_requests_total", ok)] == 2
    assert samples[("http_request_duration_seconds_count", ok)] == 2
    assert samples[("http_request_duration_seconds_bucket", tuple(sorted(ok + (("le", "0.05"),))))] == 1
    assert samples[("http_request_duration_seconds_bucket", tuple(sorted(ok + (("le", "1.0"),))))] == 2
    assert samples[("http_request_errors_total", (("route", "/earn"), ("status_class", "5xx")))] == 2
    assert (("route", "/earn"), ("status_class", "2xx")) not in {k[1] for k in samples}
    assert samples[("wallet_writes_total", (("kind", "earn"),))] == 2
    assert samples[("idempotent_replays_total", (("endpoint", "/earn"),))] == 2
    assert samples[("postbacks_total", (("outcome", "accepted"),))] == 2
    assert samples[("pipeline_runs_total", (("state", "success"),))] == 2
    assert samples[("pipeline_run_duration_seconds_sum", (("state", "success"),))] == 84.0


def test_dead_workers_live_gauges_are_dropped_but_counters_stay(multiproc_dir: Path) -> None:
    # Both workers exit with a request "in flight" and pool figures set, as after a crash.
    for in_use in (3, 4):
        _run_worker(
            multiproc_dir,
            f"""
            m.request_started()
            m.connection_opened()
            m.set_db_pool(in_use={in_use}, open_connections=5, max_size=20)
            m.record_request("GET", "/balance", 200, 0.01)
        """,
        )
    before = _samples(metrics.render_latest(str(multiproc_dir))[0])
    assert before[("db_pool_connections_in_use", ())] == 7
    assert before[("db_pool_connections_max", ())] == 40
    assert before[("http_requests_in_flight", ())] == 2

    dead = metrics.reap_dead_processes()

    assert len(dead) == 2
    after = _samples(metrics.render_latest(str(multiproc_dir))[0])
    assert ("db_pool_connections_in_use", ()) not in after
    assert ("http_requests_in_flight", ()) not in after
    assert ("http_connections_open", ()) not in after
    balance = (("method", "GET"), ("route", "/balance"), ("status", "200"))
    assert after[("http_requests_total", balance)] == 2


def test_reaping_keeps_live_processes(multiproc_dir: Path) -> None:
    own = multiproc_dir / f"gauge_livesum_{os.getpid()}.db"
    own.write_bytes(b"")
    assert metrics.reap_dead_processes() == []
    assert own.exists()


def test_balance_audit_gauges_keep_the_most_recent_value(multiproc_dir: Path) -> None:
    _run_worker(multiproc_dir, "m.record_balance_audit(discrepancies=2, users_checked=10, seconds=0.5)")
    _run_worker(multiproc_dir, "m.record_balance_audit(discrepancies=0, users_checked=12, seconds=0.4)")
    samples = _samples(metrics.render_latest(str(multiproc_dir))[0])
    assert samples[("balance_discrepancies", ())] == 0
    assert samples[("balance_audit_users_checked", ())] == 12


def test_pipeline_run_in_progress_is_exported_until_it_finishes(multiproc_dir: Path) -> None:
    _run_worker(
        multiproc_dir,
        """
        m.pipeline_run_started("run-a", started_at=1000.0)
        m.pipeline_run_started("run-b", started_at=2000.0)
        m.record_pipeline_run("success", 5.0, run_id="run-a")
    """,
    )
    _run_worker(
        multiproc_dir,
        """
        m.pipeline_run_started("run-c", started_at=3000.0)
        m.record_pipeline_run("failed", 1.0, run_id="run-c")
    """,
    )
    oldest = sorted(
        value
        for (name, _), value in _samples(metrics.render_latest(str(multiproc_dir))[0]).items()
        if name == "pipeline_run_oldest_start_timestamp_seconds"
    )
    # One series per process: run-b is still running in the first, nothing in the second.
    assert oldest == [0.0, 2000.0]


def test_prepare_multiproc_dir_empties_a_given_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    stale = tmp_path / "counter_12345.db"
    stale.write_bytes(b"old")
    path, created = metrics.prepare_multiproc_dir(str(tmp_path))
    assert (path, created) == (str(tmp_path), False)
    assert not stale.exists()
    assert os.environ[metrics.MULTIPROC_ENV] == str(tmp_path)


def test_prepare_multiproc_dir_creates_one_when_none_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    path, created = metrics.prepare_multiproc_dir()
    try:
        assert created and os.path.isdir(path) and os.listdir(path) == []
        assert os.environ[metrics.MULTIPROC_ENV] == path
    finally:
        metrics.remove_multiproc_dir(path)
    assert not os.path.exists(path)
