"""End to end through the stage runner: report files, their fields, and failures that leave the
reports untouched."""

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from revenue import stages
from revenue.io import InputSchemaError, read_parquet
from revenue.reports import REPORT_FILES
from revenue.synth import campaign_names
from tests.pipeline.cli import run_cli

SUMMARY_KEYS = {"matched", "af_only", "confirmed_only", "revenueMismatches", "totalAf", "totalConfirmed"}


@pytest.fixture(scope="module")
def published(synth_dataset, tmp_path_factory):
    data_dir, truth = synth_dataset
    root = tmp_path_factory.mktemp("published")
    result = stages.run_all(
        data_dir,
        root / "reports",
        work_dir=root / "work",
    )
    return root / "reports", root / "work", result, truth, data_dir


def load(reports: Path, name: str) -> dict:
    return json.loads((reports / name).read_text(encoding="utf-8"))


def snapshot(directory: Path) -> dict[str, bytes | None]:
    return {path.name: path.read_bytes() if path.is_file() else None for path in sorted(directory.iterdir())}


def test_all_seven_reports_and_nothing_else(published):
    reports, _, result, *_ = published
    assert sorted(p.name for p in reports.iterdir()) == sorted(REPORT_FILES)
    assert set(result["stages"]["publish"]["reports"]) == set(REPORT_FILES)
    json.dumps(result)  # every stage result is XCom-safe


def test_reconciliation_json(published):
    reports, _, _, truth, _ = published
    payload = load(reports, "reconciliation.json")
    assert set(payload["summary"]) >= SUMMARY_KEYS
    for category in ("matched", "af_only", "confirmed_only"):
        assert payload["summary"][category]["count"] == truth["expected"][category]
        assert {"count", "afRevenueUsd", "confirmedRevenueUsd"} == set(payload["summary"][category])
        assert len(payload["examples"][category]) == min(1000, truth["expected"][category])
    example = payload["examples"]["matched"][0]
    assert {"appsflyerId", "afSourceRow", "confirmedSourceRow", "afEventTimeUtc", "revenueMismatch"} <= set(
        example
    )
    assert example["afEventTimeUtc"].endswith("+00:00")
    quality = payload["dataQuality"]
    assert quality["dropped"]["purchases"] == truth["drops"]["purchases"]
    assert quality["dropped"]["confirmed"] == truth["drops"]["confirmed"]
    assert quality["droppedTotal"] == sum(sum(r.values()) for r in truth["drops"].values())


def test_detail_csv_has_every_record_once(published):
    reports, _, _, truth, _ = published
    with (reports / "reconciliation_detail.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = truth["expected"]
    assert len(rows) == expected["matched"] + expected["af_only"] + expected["confirmed_only"]
    assert {row["category"] for row in rows} == {"matched", "af_only", "confirmed_only"}
    pairs = sorted(
        [int(r["af_source_row"]), int(r["confirmed_source_row"])] for r in rows if r["category"] == "matched"
    )
    assert pairs == truth["pairs"]


def test_curated_csv(published):
    reports, work, *_ = published
    curated = pd.read_csv(reports / "purchases_curated.csv", dtype=str, keep_default_na=False)
    assert list(curated.columns) == [
        "appsflyer_id",
        "event_time_utc",
        "event_name",
        "revenue_usd",
        "original_revenue_usd",
        "chargeback",
        "campaign",
        "receipt_id",
        "source_row",
    ]
    assert len(curated) == len(read_parquet(work / "curated_purchases.parquet"))
    assert curated["event_time_utc"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$").all()
    charged = curated[curated["chargeback"] == "true"]
    assert len(charged) and (charged["revenue_usd"].astype(float) == 0).all()


def test_roas_and_arpdau_json(published):
    reports, _, result, *_ = published
    roas = load(reports, "roas_d1.json")
    assert roas["date"] == result["stages"]["roas_anomaly"]["date"]
    assert {"campaign", "revenueUsd", "costUsd", "roas", "purchases"} == set(roas["campaigns"][0])
    anomaly = load(reports, "roas_anomaly.json")
    assert anomaly["baselineWindow"] == {"from": "2025-11-03", "to": "2025-11-09"}  # D-8..D-2 for D-1 = 11-10
    names = campaign_names(12)
    severities = {a["campaign"]: a["severity"] for a in anomaly["anomalies"]}
    # The generator triples the first campaign's last-day cost and multiplies the second's by six.
    assert severities.get(names[0]) in {"warning", "critical"}
    assert severities.get(names[1]) == "critical"
    assert all(a["insight"] for a in anomaly["anomalies"])
    statuses = {c["campaign"]: c["status"] for c in anomaly["campaigns"]}
    assert statuses[names[10]] == "insufficient_history"  # starts spending two days before D-1
    assert names[11] not in {row["campaign"] for row in roas["campaigns"] if row["costUsd"] is not None}
    arpdau = load(reports, "arpdau_d1.json")
    assert arpdau["campaigns"][-1]["campaign"] == "ALL"
    assert "ORGANIC" in {row["campaign"] for row in arpdau["campaigns"]}


def test_report_html_is_self_contained(published):
    reports, *_ = published
    page = (reports / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page
    assert "ROAS anomalies" in page and "Reconciliation" in page


@pytest.mark.parametrize("breakage", ["missing_column", "garbage_file", "missing_file"])
def test_bad_input_fails_naming_file_and_column_and_leaves_reports_untouched(published, tmp_path, breakage):
    reports, *_ = published
    previous = tmp_path / "reports"
    shutil.copytree(reports, previous)
    before = snapshot(previous)
    data = tmp_path / "data"
    shutil.copytree(published[4], data)
    if breakage == "missing_column":
        frame = pd.read_csv(data / "confirmed_purchases.csv", dtype=str).drop(columns=["revenue_usd"])
        frame.to_csv(data / "confirmed_purchases.csv", index=False)
        expected = ["confirmed_purchases.csv", "revenue_usd"]
    elif breakage == "garbage_file":
        (data / "sessions.csv").write_bytes(b"\x00\xff\x13garbage\nnot,a,csv\n\x00")
        expected = ["sessions.csv: line 1: not UTF-8"]
    else:
        (data / "costs_daily.csv").unlink()
        expected = ["costs_daily.csv"]
    with pytest.raises(InputSchemaError) as error:
        stages.run_all(
            data,
            previous,
        )
    assert all(part in str(error.value) for part in expected)
    assert snapshot(previous) == before


def test_postback_purchases_join_the_appsflyer_purchases(published, tmp_path):
    *_, data_dir = published
    work = tmp_path / "work"
    postbacks = pd.DataFrame(
        [
            {
                "appsflyer_id": "pb-user",
                "event_time_utc": "2025-11-10 08:00:00",
                "event_name": "af_purchase",
                "revenue_usd": "2.50",
                "campaign": "postback camp",
                "receipt_id": "postback-1",
                "status": "success",
            }
        ]
    )
    counts = stages.extract(data_dir, work, postback_purchases=postbacks)
    stages.normalise(work)
    stages.dedup(work)
    assert counts["rows"]["postbacks"] == 1
    curated = read_parquet(work / "curated_purchases.parquet")
    row = curated[curated["receipt_id"] == "postback-1"].iloc[0]
    assert row["campaign"] == "POSTBACK CAMP" and row["revenue_usd"] == 2.5
    assert row["source_row"] == counts["rows"]["purchases"] - 1


def test_stage_parquet_round_trip_equals_in_memory_computation(published):
    _, work, result, *_ = published
    from revenue import dedup, normalise, reconcile
    from revenue.io import read_inputs

    raw = read_inputs(published[4])["purchases"].frame
    kept, _ = normalise.split_dropped(normalise.normalise_purchases(raw), "purchases")
    unique, _ = normalise.split_dropped(dedup.dedup_purchases(kept), "purchases")
    in_memory = dedup.flag_chargebacks(unique, normalise.chargeback_receipts(raw))
    pd.testing.assert_frame_equal(read_parquet(work / "curated_purchases.parquet"), in_memory)
    conf, _ = normalise.split_dropped(
        normalise.normalise_confirmed(read_inputs(published[4])["confirmed"].frame), "confirmed"
    )
    detail = reconcile.reconcile(in_memory, conf, result["stages"]["reconcile"]["toleranceMinutes"])
    pd.testing.assert_frame_equal(read_parquet(work / "reconciliation_detail.parquet"), detail)


def test_a_day_the_inputs_have_not_reached_is_flagged_not_reported_as_calm(published, tmp_path):
    *_, data_dir = published
    complete = load(published[0], "roas_d1.json")["dataCoverage"]
    assert complete["hasCost"] and complete["hasRevenue"] and complete["warnings"] == []

    out = tmp_path / "out"
    stages.run_all(
        data_dir,
        out,
        report_date="2026-01-01",
        work_dir=tmp_path / "work",
    )
    coverage = load(out, "roas_d1.json")["dataCoverage"]
    assert (coverage["hasCost"], coverage["hasRevenue"]) == (False, False)
    assert coverage["latestCostDate"] == complete["latestCostDate"] == "2025-11-10"
    assert any("costs_daily has no rows for 2026-01-01" in w for w in coverage["warnings"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Incomplete input for this day" in page and "latest cost date: 2025-11-10" in page
    assert "Incomplete input" not in (published[0] / "report.html").read_text(encoding="utf-8")


def test_explicit_report_date_is_used(published, tmp_path):
    *_, data_dir = published
    work = tmp_path / "work"
    stages.extract(data_dir, work)
    stages.normalise(work)
    stages.dedup(work)
    assert stages.roas_anomaly(work, "2025-11-05")["date"] == "2025-11-05"
    assert stages.arpdau(work, "2025-11-05")["date"] == "2025-11-05"


def test_cli_runs_and_prints_the_summary_table(published, tmp_path):
    *_, data_dir = published
    completed = run_cli(data_dir, tmp_path / "out", "--date", "2025-11-09")
    assert completed.returncode == 0, completed.stderr
    assert "matched" in completed.stdout and "anomalies" in completed.stdout
    assert "reconcile done in" in completed.stderr  # a progress line per stage
    assert load(tmp_path / "out", "roas_d1.json")["date"] == "2025-11-09"


def test_cli_reports_a_schema_error_with_exit_code_2(tmp_path):
    completed = run_cli(tmp_path, tmp_path / "out")
    assert completed.returncode == 2
    assert "purchases_raw.csv" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_a_report_that_cannot_be_renamed_into_place_leaves_every_previous_report(published, tmp_path):
    reports, *_, data_dir = published
    previous = tmp_path / "reports"
    shutil.copytree(reports, previous)
    (previous / "report.html").unlink()
    (previous / "report.html").mkdir()  # in the way of the last rename
    (previous / "arpdau_d1.json").unlink()  # a report the previous run never wrote
    before = snapshot(previous)
    with pytest.raises(OSError):
        stages.run_all(data_dir, previous, report_date="2025-11-05")
    assert snapshot(previous) == before
    assert sorted(p.name for p in previous.iterdir()) == sorted(before)  # no temps or backups left


def test_example_records_keep_their_own_times_whatever_the_frame_index():
    """Examples are rows picked out of the detail table (index = their positions there): each must
    show its own time, not the time of whichever row sits at that position among the picked."""
    from revenue.reports import records

    times = pd.to_datetime(["2025-11-01 10:00:00", "2025-11-02 11:00:00", "2025-11-03 12:00:00"], utc=True)
    picked = pd.DataFrame({"name": ["a", "b", "c"], "event_time_utc": times}, index=[2, 0, 1])
    assert [(row["name"], row["eventTimeUtc"]) for row in records(picked)] == [
        ("a", "2025-11-01T10:00:00+00:00"),
        ("b", "2025-11-02T11:00:00+00:00"),
        ("c", "2025-11-03T12:00:00+00:00"),
    ]
