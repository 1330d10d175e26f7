"""tests/live.py stops a live server's whole process tree, even when its manager is gone."""

from __future__ import annotations

import os
import signal
import subprocess

from tests.conftest import service_env
from tests.live import LiveServerPool


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    result = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(group)], capture_output=True, text=True)
    return [
        int(pid) for pid, state in (line.split() for line in result.stdout.splitlines()) if state[0] != "Z"
    ]


def test_stop_ends_the_workers_of_a_manager_that_was_killed(tmp_path, migrated_databases):
    pool = LiveServerPool(log_dir=tmp_path, env_for=service_env)
    server = pool(migrated_databases["sqlite"], workers=2)
    group = server.process.pid
    try:
        assert len(_group_members(group)) >= 3, "manager and two workers"
        # What the old stop() did after its SIGINT timed out (Sanic's manager can spin forever
        # when SIGINT arrives before every worker has acknowledged start-up).
        server.process.kill()
        server.process.wait()
        assert _group_members(group), "the workers survive their manager"
        pool.stop_all()
        assert _group_members(group) == []
    finally:
        if _group_members(group):
            os.killpg(group, signal.SIGKILL)
