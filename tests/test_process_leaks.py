"""The session-end check in tests/process_leaks.py fails a run that leaves a process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.process_leaks import live_descendants

REPO_ROOT = Path(__file__).resolve().parent.parent

LEAKY_TESTS = """
import subprocess
from pathlib import Path

def test_starts_a_server_and_forgets_it():
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    Path("leaked.pid").write_text(str(process.pid))

def test_orphans_a_grandchild():
    # The shell exits at once: its `sleep` loses its parent, as a Sanic worker does when
    # only its manager is killed.
    out = subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True).stdout
    Path("orphan.pid").write_text(out.strip())
"""

TIDY_TESTS = """
import subprocess

def test_starts_and_stops_a_process():
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    process.terminate()
    process.wait()
"""


def _alive(pid: int) -> bool:
    state = Path(f"/proc/{pid}/stat")
    try:
        return state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run_inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return pytester.runpytest_subprocess("-p", "tests.process_leaks", "-p", "no:cacheprovider")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
def test_a_session_that_leaks_a_child_or_an_orphan_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    result = _run_inner(pytester, monkeypatch, LEAKY_TESTS)
    pids = [int((pytester.path / name).read_text()) for name in ("leaked.pid", "orphan.pid")]
    try:
        result.stdout.fnmatch_lines(["*leaked processes*", "*2 process(es) started by this test session*"])
        output = result.stdout.str()
        assert all(f"pid {pid}: sleep 300" in output for pid in pids), output
        # Both tests passed; only the leak check fails the run.
        result.assert_outcomes(passed=2)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        assert not any(_alive(pid) for pid in pids), "the check kills what it reports"
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
def test_a_session_that_stops_its_processes_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    result = _run_inner(pytester, monkeypatch, TIDY_TESTS)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "leaked processes" not in result.stdout.str()


def test_descendants_are_found_through_the_process_tree():
    shell = subprocess.Popen(["sh", "-c", "sleep 300; :"])
    try:
        deadline = time.monotonic() + 10
        while not (below_shell := live_descendants(shell.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(below_shell.values()) == ["sleep 300"]
        below_us = live_descendants(os.getpid())
        assert shell.pid in below_us and set(below_shell) <= set(below_us)
    finally:
        for pid in live_descendants(shell.pid):
            os.kill(pid, signal.SIGKILL)
        shell.kill()
        shell.wait()
