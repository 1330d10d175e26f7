"""A pytest plugin that fails the run when a process the session started outlives it.

At start the pytest process becomes a child subreaper (Linux prctl PR_SET_CHILD_SUBREAPER):
a descendant whose parent exits -- a Sanic worker whose manager was SIGKILLed, a daemon that
double-forked -- is re-parented to pytest instead of to init, so it stays in pytest's process
tree and /proc's parent links still lead back to the session. After every fixture has been
torn down, any live descendant is a leak: the run fails, naming each one, and the leaked
processes are killed so the machine is not left with them.

Loaded from tests/conftest.py (`pytest_plugins`), or with `-p tests.process_leaks`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

import pytest

PR_SET_CHILD_SUBREAPER = 36
# A process stopped by a fixture's teardown may need a moment to finish exiting.
EXIT_GRACE_SECONDS = 5.0
_PROC = Path("/proc")


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _stat_fields(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) from /proc/<pid>/stat, or None once the process is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    after_name = stat[stat.rindex(")") + 2 :].split()
    return int(after_name[1]), after_name[0]


def live_descendants(root_pid: int) -> dict[int, str]:
    """pid -> command line of every process below `root_pid` that is not a zombie."""
    parents: dict[int, int] = {}
    states: dict[int, str] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)], states[int(entry.name)] = fields
    found: dict[int, str] = {}
    for pid in parents:
        ancestor = parents[pid]
        seen = {pid}
        while ancestor not in (0, root_pid) and ancestor in parents and ancestor not in seen:
            seen.add(ancestor)
            ancestor = parents[ancestor]
        if ancestor == root_pid and states[pid] != "Z":
            found[pid] = _command_line(pid)
    return found


def _command_line(pid: int) -> str:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def _reap_zombie_children() -> None:
    """Orphans re-parented to us become our zombies when they exit; nothing else waits for them."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def leaked_processes(root_pid: int, grace_seconds: float = EXIT_GRACE_SECONDS) -> dict[int, str]:
    deadline = time.monotonic() + grace_seconds
    while True:
        _reap_zombie_children()
        leaked = live_descendants(root_pid)
        if not leaked or time.monotonic() >= deadline:
            return leaked
        time.sleep(0.1)


def kill_all(pids: dict[int, str]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    _reap_zombie_children()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SUBREAPER] = become_subreaper()


_SUBREAPER = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # Runs after the last test's teardown, so every fixture (module and session scope) is done.
    if not session.config.stash.get(_SUBREAPER, False):
        return
    leaked = leaked_processes(os.getpid())
    if not leaked:
        return
    kill_all(leaked)
    lines = "\n".join(f"  pid {pid}: {command}" for pid, command in sorted(leaked.items()))
    message = f"{len(leaked)} process(es) started by this test session outlived it (now killed):\n{lines}"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "leaked processes", red=True)
        reporter.write_line(message)
    else:
        print(message, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
