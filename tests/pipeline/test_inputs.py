"""Reading the inputs tells the truth: encodings, empty and header-only files, malformed lines (SPEC §5)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from revenue import stages
from revenue.io import InputSchemaError
from tests.pipeline.cli import cli_command, run_cli


@pytest.fixture
def data(synth_dataset, tmp_path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(synth_dataset[0], copy)
    return copy


def report(out: Path, name: str) -> dict:
    return json.loads((out / name).read_text(encoding="utf-8"))


def test_utf8_byte_order_mark_is_read_as_the_same_data(data, tmp_path):
    stages.run_all(data, tmp_path / "plain", report_date="2025-11-09")
    for name in ("costs_daily.csv", "purchases_raw.csv"):
        path = data / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    stages.run_all(data, tmp_path / "bom", report_date="2025-11-09")
    for name in ("roas_d1.json", "reconciliation.json", "purchases_curated.csv"):
        assert (tmp_path / "bom" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "costs_daily.csv: file is empty"),
        (b"\n  \n", "costs_daily.csv: file is empty"),
        ("date,campaign,ad_cost_usd\n".encode("utf-16"), "costs_daily.csv: encoded as UTF-16 LE"),
        ("date,campaign,ad_cost_usd\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "encoded as UTF-16 BE"),
        (
            b"date,campaign,ad_cost_usd\n2025-11-09,caf\xe9,1.00\n",
            "costs_daily.csv: line 2: not UTF-8 (byte 0xe9",
        ),
    ],
)
def test_unusable_file_is_named_with_its_problem(data, tmp_path, content, expected):
    (data / "costs_daily.csv").write_bytes(content)
    with pytest.raises(InputSchemaError) as error:
        stages.run_all(data, tmp_path / "out")
    assert expected in str(error.value)
    assert not (tmp_path / "out").exists()


def test_malformed_lines_are_skipped_counted_and_named_by_line(data, tmp_path):
    path = data / "purchases_raw.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, "only,three,fields\n")  # becomes line 4
    lines.insert(6, "a,b,c,d,e,f,g,h,i,j,k,l,m,n\n")  # becomes line 7 (more fields than the header)
    path.write_text("".join(lines), encoding="utf-8")

    stages.run_all(data, tmp_path / "out", report_date="2025-11-09")

    quality = report(tmp_path / "out", "reconciliation.json")["dataQuality"]
    assert quality["dropped"]["purchases"]["malformed_line"] == 2
    warnings = report(tmp_path / "out", "roas_d1.json")["dataCoverage"]["warnings"]
    assert "purchases_raw.csv: 2 malformed line(s) skipped (wrong number of fields; line 4, 7)." in warnings


def test_header_only_input_warns_in_the_data_coverage_and_the_cli(data, tmp_path):
    (data / "sessions.csv").write_text("date,user_id,event_timestamp_utc\n", encoding="utf-8")
    completed = run_cli(data, tmp_path / "out", "--date", "2025-11-09")
    assert completed.returncode == 0, completed.stderr
    coverage = report(tmp_path / "out", "roas_d1.json")["dataCoverage"]
    assert "sessions.csv has a header but no data rows." in coverage["warnings"]
    assert "No sessions on 2025-11-09: DAU is 0, so ARPDAU cannot be computed." in coverage["warnings"]
    assert coverage["hasSessions"] is False
    for warning in coverage["warnings"]:
        assert f"warning: {warning}" in completed.stdout
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "sessions.csv has a header but no data rows." in page


def test_cli_names_file_and_line_of_a_broken_csv_in_one_line_with_exit_code_2(data, tmp_path):
    path = data / "sessions.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4] + [b"2025-11-09,\xff\xfeuser,2025-11-09 10:00:00\n"] + lines[4:]))
    completed = run_cli(data, tmp_path / "out")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1] == (
        "error: sessions.csv: line 5: not UTF-8 (byte 0xff at column 12); save it as UTF-8"
    )
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_cli_without_a_date_reports_on_the_latest_cost_date_and_says_where_and_why(data, tmp_path):
    completed = run_cli(data, tmp_path / "out")
    assert completed.returncode == 0, completed.stderr
    assert report(tmp_path / "out", "roas_d1.json")["date"] == "2025-11-10"  # costs_daily's last day
    assert report(tmp_path / "out", "roas_d1.json")["dateReason"] == "latest_cost_date"
    assert (
        "Report date (D-1): 2025-11-10 (no date given: the latest day costs_daily.csv covers)"
        in completed.stdout
    )
    assert f"Reports: {(tmp_path / 'out').resolve()} (7 files" in completed.stdout


def test_cli_progress_is_plain_lines_when_stderr_is_not_a_terminal(data, tmp_path):
    completed = run_cli(data, tmp_path / "out")
    assert "\r" not in completed.stderr and "\x1b[" not in completed.stderr
    done = [line for line in completed.stderr.splitlines() if " done in " in line]
    assert [line.split()[1] for line in done] == [
        "extract",
        "normalise",
        "dedup",
        "reconcile",
        "roas_anomaly",
        "arpdau",
        "publish",
    ]


def test_cli_shows_one_live_progress_bar_in_a_terminal(data, tmp_path):
    import fcntl
    import os
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a new pty is 0x0
    try:
        completed = subprocess.run(
            cli_command(data, tmp_path / "out"),
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=300,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    terminal = b"".join(chunks).decode()
    assert completed.returncode == 0
    redraws = terminal.replace("\r\n", "\n").split("\r")  # the terminal turns \n into \r\n
    assert len(redraws) > 7  # one bar, redrawn in place
    assert "pipeline: done" in redraws[-1] and "7/7 stages" in redraws[-1]
    finished_lines = [line for line in terminal.splitlines() if " done in " in line]
    assert sorted({line.split()[1] for line in finished_lines}) == sorted(
        ["extract", "normalise", "dedup", "reconcile", "roas_anomaly", "arpdau", "publish"]
    )
