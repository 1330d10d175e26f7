"""`python -m service audit`: the balance audit from the command line.

Exit status 0 when every balance matches its ledger, 1 when any does not (so cron or CI can
act on it), 2 when the database cannot be reached. The server also runs the audit every
BALANCE_AUDIT_INTERVAL_SECONDS (service.monitoring.jobs) and exports the figures on /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from service.config import get_settings
from service.db import close_orm, init_orm, is_database_unavailable
from service.monitoring import metrics
from service.wallet.audit import DEFAULT_OFFENDER_LIMIT, AuditReport, audit_balances


async def _audit(database_url: str, limit: int) -> AuditReport:
    # No command timeout: on a large database the one aggregate may run for a while.
    await init_orm(database_url, pool_max=1, command_timeout=None)
    try:
        return await audit_balances(limit=limit)
    finally:
        await close_orm()


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        report = asyncio.run(_audit(settings.DATABASE_URL, args.limit))
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        print(f"balance audit: database unreachable: {exc}", file=sys.stderr)
        return 2
    # Lands in the server's metrics when PROMETHEUS_MULTIPROC_DIR points at its directory.
    metrics.record_balance_audit(report.discrepancies, report.users_checked, report.seconds)
    print(json.dumps(report.as_dict()) if args.json else report.as_text())
    return 1 if report.discrepancies else 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="check balance = sum of ledger deltas >= 0 for every user")
    audit.add_argument(
        "--limit",
        type=_at_least_one,
        default=DEFAULT_OFFENDER_LIMIT,
        help="offenders to list (all are counted)",
    )
    audit.add_argument("--json", action="store_true", help="one JSON object instead of text")
    audit.set_defaults(run=run)
