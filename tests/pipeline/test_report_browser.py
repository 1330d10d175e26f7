"""report.html as a browser shows it: headless Chromium loads the page offline and every chart's
image decodes, at display size, with alt text naming the campaigns and what the chart shows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from revenue import stages

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--virtual-time-budget=10000",
]
# Appended to a copy of the page: once loaded, what the browser made of every image.
PROBE = """<script>window.addEventListener("load", () => {
  const images = [...document.images].map(img => ({
    alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
    shownWidth: img.getBoundingClientRect().width}));
  const probe = document.createElement("pre"); probe.id = "probe";
  probe.textContent = JSON.stringify(images); document.body.appendChild(probe);
});</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium not on PATH (make test installs Debian's chromium package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


@pytest.fixture(scope="module")
def report(synth_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "reports"
    stages.run_all(synth_dataset[0], out)
    return out


def browse(chromium: str, page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_charts_load_at_display_size_with_alt_text_naming_campaigns(chromium, report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(
        (report / "report.html").read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    )
    browsed = browse(chromium, page, tmp_path, "--window-size=1280,2000", "--dump-dom")
    assert browsed.returncode == 0, browsed.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', browsed.stdout, re.S)
    assert found, browsed.stdout[-2000:]
    images = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))

    assert len(images) == 2
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0
        # Drawn at its display size: no scaling that would shrink the text below its 11 px floor.
        assert image["shownWidth"] == image["naturalWidth"]
    roas = json.loads((report / "roas_anomaly.json").read_text())
    trend_alt, reconciliation_alt = images[0]["alt"], images[1]["alt"]
    assert trend_alt.startswith("Daily ROAS (revenue divided by ad cost) per campaign")
    for anomaly in roas["anomalies"]:
        assert f"{anomaly['campaign']} ({anomaly['severity']}:" in trend_alt
    charted = [row["campaign"] for row in roas["campaigns"] if row["roas"] is not None]
    assert charted and all(campaign in trend_alt for campaign in charted)
    assert reconciliation_alt.startswith(
        "Reconciliation of AppsFlyer purchases with the payment gateway, all dates"
    )


def test_report_is_offline_and_every_section_names_its_period(report):
    text = (report / "report.html").read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    parser = _Images()
    parser.feed(text)
    assert all((image["src"] or "").startswith("data:image/png;base64,") for image in parser.images)
    headings = re.findall(r"<h2>(.*?)</h2>", text)
    assert headings and all("class='period'" in heading for heading in headings)
    arpdau = json.loads((report / "arpdau_d1.json").read_text())
    everyone = next(row for row in arpdau["campaigns"] if row["campaign"] == "ALL")
    assert f"${everyone['arpdau']:,.2f}" in text


def test_screenshot_renders(chromium, report, tmp_path):
    shot = tmp_path / "report.png"
    browsed = browse(
        chromium,
        report / "report.html",
        tmp_path,
        "--window-size=1280,3600",
        f"--screenshot={shot}",
        "--hide-scrollbars",
    )
    assert browsed.returncode == 0, browsed.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a blank page of this size compresses to a few kB
