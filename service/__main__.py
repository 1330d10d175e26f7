"""CLI: `python -m service migrate` applies the Aerich migrations; `serve` runs the API on :8000;
`makemigrations NAME` writes a migration for model changes into both dialect histories."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from service.audit_cli import add_command as add_audit_command
from service.config import check_production, get_settings
from service.db import migrate


def _migrate(_: argparse.Namespace) -> int:
    settings = get_settings()
    applied = asyncio.run(migrate(settings.DATABASE_URL))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from service.app import create_app
    from service.monitoring.metrics import prepare_multiproc_dir, remove_multiproc_dir

    settings = get_settings()
    check_production(settings)
    workers = args.workers or settings.web_workers
    single_process = workers == 1 and args.single_process
    # Worker processes write their metrics to files here (inherited env); it must be empty
    # before they start. A single process keeps them in memory.
    metrics_dir, created = (None, False) if single_process else prepare_multiproc_dir()
    loader = AppLoader(factory=create_app)
    app = loader.load()
    app.prepare(
        host=args.host, port=args.port, workers=workers, access_log=False, single_process=single_process
    )
    try:
        Sanic.serve(primary=app, app_loader=loader)
    finally:
        if created and metrics_dir is not None:
            remove_multiproc_dir(metrics_dir)
    return 0


def _makemigrations(args: argparse.Namespace) -> int:
    from service.migrations_tool import make_migrations, pending_migration

    if args.dialect:
        print(asyncio.run(pending_migration(args.dialect, args.name, write=not args.check)))
        return 0
    created = make_migrations(args.name, write=not args.check)
    for dialect, version in created.items():
        print(f"{dialect}: {version or 'no changes'}")
    # --check fails when the models have changes no migration covers yet.
    return 1 if args.check and any(created.values()) else 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL").set_defaults(run=_migrate)
    serve = commands.add_parser("serve", help="serve the API (WEB_WORKERS worker processes)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="overrides WEB_WORKERS")
    serve.add_argument("--single-process", action="store_true", help="no worker manager (1 worker)")
    serve.set_defaults(run=_serve)
    make = commands.add_parser(
        "makemigrations", help="write a migration for model changes into both dialect histories"
    )
    make.add_argument("name")
    make.add_argument("--dialect", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    make.add_argument("--check", action="store_true", help="only report; exit 1 if one is needed")
    make.set_defaults(run=_makemigrations)
    add_audit_command(commands)
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
