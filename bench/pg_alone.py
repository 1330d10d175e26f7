"""PostgreSQL's own ceiling for the /earn transaction: pgbench, no HTTP and no Python.

The same five statements as bench/yardstick_app.py (BEGIN, SELECT ... FOR UPDATE, UPDATE,
INSERT ledger row, COMMIT) with prepared statements, against a seeded benchmark database.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PGBENCH_SCRIPT = """\
\\set uid random(1, {users})
BEGIN;
SELECT id, balance + 1 AS new_balance FROM users WHERE user_id = 'bench-user-' || :uid
  FOR UPDATE \\gset
UPDATE users SET balance = :new_balance WHERE id = :id;
INSERT INTO wallet_ledger (user_id, delta, balance_after, reason, idempotency_key, request_id, ts)
  VALUES (:id, 1, :new_balance, 'bench', NULL, 'pgbench', now());
COMMIT;
"""
TPS_LINE = re.compile(r"^tps = ([\d.]+)", re.MULTILINE)
LATENCY_LINE = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)


def pgbench_earn(database_url: str, users: int, clients: int, seconds: int) -> dict[str, float]:
    """Transactions/s and mean latency of the earn transaction run by pgbench alone."""
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        return {}
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as work:
        script = Path(work) / "earn.sql"
        # pgbench's script language needs each statement on one line.
        script.write_text(PGBENCH_SCRIPT.format(users=users).replace("\n  ", " "))
        completed = subprocess.run(
            [
                pgbench,
                "-n",
                "-M",
                "prepared",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                str(script),
                database_url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    tps, latency = TPS_LINE.search(completed.stdout), LATENCY_LINE.search(completed.stdout)
    if completed.returncode != 0 or tps is None or latency is None:
        raise RuntimeError(f"pgbench failed:\n{completed.stdout}\n{completed.stderr}")
    return {
        "clients": clients,
        "seconds": seconds,
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)),
    }
