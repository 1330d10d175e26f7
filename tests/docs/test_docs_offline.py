"""/docs (Swagger UI) and /redoc render every route in headless Chromium with the network cut
off: the UIs' assets come from the service itself (tools/vendor_docs_assets.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.docs.tools import REPO_ROOT, chromium
from tools import vendor_docs_assets

UI_DIR = REPO_ROOT / "service" / "http" / "static" / "ui"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    browser = chromium()
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) missing: cannot cut the network off")
    out_dir = tmp_path_factory.mktemp("offline-docs")
    # A new network namespace holds nothing but a loopback interface: no way out at all.
    result = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.docs.offline_render", browser, str(out_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out_dir


def operations(out_dir: Path) -> set[tuple[str, str]]:
    document = json.loads((out_dir / "openapi.json").read_text())
    return {(method, path) for path, ops in document["paths"].items() for method in ops}


class SwaggerOperations(HTMLParser):
    """(method, path) of every operation block Swagger UI rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[tuple[str, str]] = set()
        self._method: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        block = next(
            (
                c
                for c in classes
                if c.startswith("opblock-") and c[8:] in ("get", "post", "put", "delete", "patch")
            ),
            None,
        )
        if "opblock" in classes and block:
            self._method = block[8:]
        if "opblock-summary-path" in classes and self._method and attributes.get("data-path"):
            self.found.add((self._method, attributes["data-path"]))


def test_swagger_ui_renders_every_route_offline(rendered):
    parser = SwaggerOperations()
    parser.feed((rendered / "docs.html").read_text())
    assert operations(rendered) - parser.found == set()
    assert operations(rendered)


def test_redoc_renders_every_route_offline(rendered):
    dom = (rendered / "redoc.html").read_text()
    document = json.loads((rendered / "openapi.json").read_text())
    text = re.sub(r"<[^>]+>", " ", dom)
    missing = [
        f"{method.upper()} {path}"
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if op["summary"] not in text
    ]
    assert "redoc-wrap" in dom
    assert not missing


def test_the_pages_load_nothing_from_another_host():
    for page in UI_DIR.iterdir():
        references = re.findall(r"""(?:src|href|url)\s*[=:(]\s*["']([^"']+)""", page.read_text())
        assert references and all(ref.startswith("/") for ref in references), (page.name, references)


def test_vendored_assets_are_the_pinned_npm_builds():
    if not vendor_docs_assets.NODE_MODULES.is_dir():
        pytest.skip("tools/npm/node_modules missing (make test runs npm ci there)")
    assert vendor_docs_assets.differing() == []
