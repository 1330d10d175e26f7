"""Render /docs and /redoc in headless Chromium on a machine with no network but loopback.

Run by tests/docs/test_docs_offline.py inside a fresh network namespace (`unshare --net`), so
any asset the pages tried to fetch from elsewhere (a CDN, web fonts) could not load:
    python -m tests.docs.offline_render CHROMIUM OUT_DIR
Starts a real server on 127.0.0.1, writes OUT_DIR/{openapi.json,docs.html,redoc.html} (the
DOM after the page's scripts ran) and stops the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import migrate_with_cli, service_env
from tests.dbs import sqlite_url
from tests.live import LiveServerPool

PAGES = {"docs.html": "/docs", "redoc.html": "/redoc"}


def rendered_dom(chromium: str, url: str, profile: Path) -> str:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--dump-dom",
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def main(chromium: str, out_dir: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    database_url = sqlite_url(out_dir / "docs.db")
    migrate_with_cli(database_url)
    pool = LiveServerPool(log_dir=out_dir, env_for=service_env)
    try:
        server = pool(database_url)
        (out_dir / "openapi.json").write_text(httpx.get(f"{server.base_url}/openapi.json").text)
        for name, path in PAGES.items():
            dom = rendered_dom(chromium, server.base_url + path, out_dir / f"profile-{name}")
            (out_dir / name).write_text(dom)
    finally:
        pool.stop_all()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
    print(json.dumps(sorted(PAGES)))
