"""On generated data: reconciliation equals the ground truth; ROAS/ARPDAU equal a plain-loop recomputation."""

import datetime as dt
import json
import math
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from revenue import stages, synth
from revenue.io import read_parquet

REPO_SAMPLE = Path(__file__).resolve().parents[2] / "data"


def reconcile_dir(data_dir: Path, work: Path) -> tuple[pd.DataFrame, dict]:
    stages.extract(data_dir, work)
    normalised = stages.normalise(work)
    deduped = stages.dedup(work)
    result = stages.reconcile(work)
    drops = {source: dict(reasons) for source, reasons in normalised["dropped"].items()}
    drops["purchases"] |= deduped["dropped"]["purchases"]
    return read_parquet(work / "reconciliation_detail.parquet"), {
        "summary": result["summary"],
        "drops": drops,
    }


def run_to_reconcile(tmp_path, rows: int, seed: int) -> tuple[dict, pd.DataFrame, dict]:
    frames, truth = synth.generate(rows, seed)
    synth.write_dataset(tmp_path / "data", frames, truth)
    truth = json.loads((tmp_path / "data" / "ground_truth.json").read_text())
    return (truth, *reconcile_dir(tmp_path / "data", tmp_path / "work"))


def test_committed_sample_reconciles_to_its_ground_truth(tmp_path):
    truth = json.loads((REPO_SAMPLE / "ground_truth.json").read_text())
    detail, result = reconcile_dir(REPO_SAMPLE, tmp_path / "work")
    assert_equals_truth(truth, detail, result)


@pytest.mark.parametrize(("rows", "seed"), [(2_000, 1), (20_000, 2), (100_000, 3)])
def test_reconciliation_equals_ground_truth(tmp_path, rows, seed):
    assert_equals_truth(*run_to_reconcile(tmp_path, rows, seed))


def assert_equals_truth(truth: dict, detail: pd.DataFrame, result: dict) -> None:
    matched = detail[detail["category"] == "matched"]
    pairs = sorted(
        map(
            list,
            zip(
                matched["af_source_row"].astype(int),
                matched["confirmed_source_row"].astype(int),
                strict=False,
            ),
        )
    )
    assert pairs == truth["pairs"]
    assert (
        sorted(detail.loc[detail["category"] == "af_only", "af_source_row"].astype(int)) == truth["af_only"]
    )
    assert (
        sorted(detail.loc[detail["category"] == "confirmed_only", "confirmed_source_row"].astype(int))
        == truth["confirmed_only"]
    )
    summary = result["summary"]
    for category in ("matched", "af_only", "confirmed_only"):
        assert summary[category]["count"] == truth["expected"][category]
    assert summary["revenueMismatches"] == truth["expected"]["revenueMismatches"]
    assert int(detail["chargeback"].sum()) == truth["expected"]["chargebacks"]
    assert result["drops"] == truth["drops"]


def _utc_day(timestamp: pd.Timestamp) -> dt.date:
    return timestamp.tz_convert("UTC").date()


def test_roas_and_arpdau_equal_a_plain_loop(tmp_path, synth_dataset):
    data_dir, _ = synth_dataset
    work = tmp_path / "work"
    stages.extract(data_dir, work)
    stages.normalise(work)
    stages.dedup(work)
    roas_meta = stages.roas_anomaly(work, None)
    stages.arpdau(work, None)
    curated = read_parquet(work / "curated_purchases.parquet")
    costs = read_parquet(work / "normalised_costs.parquet")
    sessions = read_parquet(work / "normalised_sessions.parquet")
    report_date = dt.date.fromisoformat(roas_meta["date"])
    assert report_date == max(_utc_day(t) for t in costs["date"])

    revenue, cost = defaultdict(float), {}
    for row in curated.itertuples():
        campaign = row.campaign or "ORGANIC"
        revenue[(_utc_day(row.event_time_utc), campaign)] += (
            0.0 if row.chargeback else row.original_revenue_usd
        )
    for row in costs.itertuples():
        key = (_utc_day(row.date), row.campaign)
        cost[key] = cost.get(key, 0.0) + row.ad_cost_usd
    daily = read_parquet(work / "roas_daily.parquet")
    assert len(daily) == len(set(revenue) | set(cost))
    for row in daily.itertuples():
        key = (row.date.date(), row.campaign)
        assert row.revenue_usd == pytest.approx(revenue.get(key, 0.0))
        if cost.get(key, 0.0) > 0:
            assert row.roas == pytest.approx(revenue.get(key, 0.0) / cost[key])
        else:
            assert math.isnan(row.roas)

    first_purchase: dict[str, tuple] = {}
    for row in curated.itertuples():
        candidate = (row.event_time_utc, row.source_row, row.campaign or "ORGANIC")
        if row.appsflyer_id not in first_purchase or candidate < first_purchase[row.appsflyer_id]:
            first_purchase[row.appsflyer_id] = candidate
    active: set[str] = {row.user_id for row in sessions.itertuples() if _utc_day(row.date) == report_date}
    dau: dict[str, int] = defaultdict(int)
    for user in active:
        dau[first_purchase[user][2] if user in first_purchase else "ORGANIC"] += 1
    day_revenue: dict[str, float] = defaultdict(float)
    for (day, campaign), amount in revenue.items():
        if day == report_date:
            day_revenue[campaign] += amount
    expected = {
        c: (day_revenue.get(c, 0.0), dau.get(c, 0))
        for c in set(dau) | set(day_revenue)
        if dau.get(c, 0) > 0 or day_revenue.get(c, 0.0) > 0
    }
    expected["ALL"] = (sum(day_revenue.values()), len(active))
    table = read_parquet(work / "arpdau_d1.parquet")
    assert set(table["campaign"]) == set(expected)
    for row in table.itertuples():
        assert row.revenue_usd == pytest.approx(expected[row.campaign][0])
        assert row.dau == expected[row.campaign][1]
        if row.dau:
            assert row.arpdau == pytest.approx(row.revenue_usd / row.dau)
        else:
            assert math.isnan(row.arpdau)
