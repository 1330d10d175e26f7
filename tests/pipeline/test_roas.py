import datetime as dt
import math

import pandas as pd
import pytest

from revenue.roas import daily_roas, roas_anomalies, roas_d1

from .tables import curated

D1 = dt.date(2025, 11, 10)


def costs(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["date", "campaign", "ad_cost_usd"])
    frame["date"] = pd.to_datetime(frame["date"], utc=True).astype("datetime64[us, UTC]")
    frame["source_row"] = range(len(frame))
    return frame


def purchases(rows: list[tuple[str, str, float]], chargeback: bool = False) -> pd.DataFrame:
    return curated(
        [
            {
                "appsflyer_id": f"u{i}",
                "event_time_utc": f"{day} 12:00:00",
                "campaign": campaign,
                "revenue_usd": revenue,
                "chargeback": chargeback,
            }
            for i, (day, campaign, revenue) in enumerate(rows)
        ]
    )


def day_row(daily: pd.DataFrame, day: str, campaign: str) -> pd.Series:
    return daily[(daily["date"] == pd.Timestamp(day)) & (daily["campaign"] == campaign)].iloc[0]


def test_roas_is_null_when_cost_is_zero_or_missing():
    daily = daily_roas(
        purchases([("2025-11-10", "A", 10.0), ("2025-11-10", "B", 5.0)]), costs([("2025-11-10", "A", 0.0)])
    )
    assert math.isnan(day_row(daily, "2025-11-10", "A")["roas"])
    assert math.isnan(day_row(daily, "2025-11-10", "B")["roas"])


def test_roas_is_zero_when_cost_without_revenue():
    daily = daily_roas(purchases([("2025-11-09", "A", 1.0)]), costs([("2025-11-10", "A", 20.0)]))
    assert day_row(daily, "2025-11-10", "A")["roas"] == 0.0


def test_cost_rows_of_the_same_day_and_campaign_are_summed():
    daily = daily_roas(
        purchases([("2025-11-10", "A", 30.0)]), costs([("2025-11-10", "A", 10.0), ("2025-11-10", "A", 5.0)])
    )
    row = day_row(daily, "2025-11-10", "A")
    assert row["cost_usd"] == 15.0 and row["roas"] == pytest.approx(2.0)


def test_chargebacks_count_at_zero_revenue():
    rows = purchases([("2025-11-10", "A", 30.0)])
    charged = purchases([("2025-11-10", "A", 50.0)], chargeback=True)
    daily = daily_roas(pd.concat([rows, charged], ignore_index=True), costs([("2025-11-10", "A", 10.0)]))
    assert day_row(daily, "2025-11-10", "A")["roas"] == pytest.approx(3.0)


def test_revenue_day_is_the_utc_day():
    daily = daily_roas(
        curated(
            [
                {
                    "appsflyer_id": "u",
                    "event_time_utc": "2025-11-10T01:00:00+02:00",
                    "campaign": "A",
                    "revenue_usd": 4.0,
                }
            ]
        ),
        costs([("2025-11-09", "A", 2.0)]),
    )
    assert day_row(daily, "2025-11-09", "A")["roas"] == pytest.approx(2.0)


def test_d1_lists_every_campaign_with_cost_or_revenue():
    daily = daily_roas(
        purchases([("2025-11-10", "REV ONLY", 3.0), ("2025-11-09", "OTHER DAY", 3.0)]),
        costs([("2025-11-10", "COST ONLY", 3.0), ("2025-11-10", "ZERO COST", 0.0)]),
    )
    assert roas_d1(daily, D1)["campaign"].tolist() == ["COST ONLY", "REV ONLY", "ZERO COST"]


def history(baseline: list[float | None], d1_revenue: float, d1_cost: float = 100.0) -> pd.DataFrame:
    """Campaign A with ROAS values for D-8..D-2 (None = no cost that day) and D-1 revenue/cost."""
    revenue_rows, cost_rows = [], []
    for offset, roas in zip(range(8, 1, -1), baseline, strict=False):
        day = (D1 - dt.timedelta(days=offset - 1)).isoformat()
        revenue_rows.append((day, "A", 100.0 * (roas if roas is not None else 1.0)))
        if roas is not None:
            cost_rows.append((day, "A", 100.0))
    if d1_revenue:
        revenue_rows.append((D1.isoformat(), "A", d1_revenue))
    cost_rows.append((D1.isoformat(), "A", d1_cost))
    # Outside the window on both sides: must not move the baseline.
    revenue_rows.append(((D1 - dt.timedelta(days=8)).isoformat(), "A", 1000.0))
    cost_rows.append(((D1 - dt.timedelta(days=8)).isoformat(), "A", 1.0))
    return daily_roas(purchases(revenue_rows), costs(cost_rows))


def verdict(daily: pd.DataFrame) -> pd.Series:
    return roas_anomalies(daily, D1).set_index("campaign").loc["A"]


def test_not_flagged_at_half_the_baseline():
    row = verdict(history([2.0] * 7, d1_revenue=100.0))
    assert row["baseline_roas"] == pytest.approx(2.0) and row["baseline_days"] == 7
    assert row["status"] == "ok" and row["severity"] is None


def test_warning_below_half_the_baseline():
    row = verdict(history([2.0] * 7, d1_revenue=99.0))
    assert (row["status"], row["severity"]) == ("anomaly", "warning")
    assert "revenue" in row["insight"] and "cost" in row["insight"]


def test_critical_below_a_quarter_of_the_baseline():
    row = verdict(history([2.0] * 7, d1_revenue=49.0))
    assert (row["status"], row["severity"]) == ("anomaly", "critical")


def test_critical_when_revenue_is_zero_with_cost():
    row = verdict(history([1.0, 1.0, 1.0], d1_revenue=0.0))
    assert row["roas"] == 0.0
    assert (row["status"], row["severity"]) == ("anomaly", "critical")


def test_baseline_averages_only_days_with_a_roas():
    row = verdict(history([1.0, None, 3.0, None, 2.0, None, None], d1_revenue=150.0))
    assert row["baseline_days"] == 3 and row["baseline_roas"] == pytest.approx(2.0)
    assert row["status"] == "ok"


def test_fewer_than_three_baseline_days_is_insufficient_history():
    row = verdict(history([5.0, 5.0, None, None, None, None, None], d1_revenue=1.0))
    assert (row["status"], row["severity"]) == ("insufficient_history", None)


def test_insight_names_the_cost_when_cost_moved():
    row = verdict(history([2.0] * 7, d1_revenue=200.0, d1_cost=1000.0))
    assert row["severity"] == "critical"
    assert "mostly on cost" in row["insight"]


def test_campaign_without_d1_cost_has_no_roas_verdict():
    daily = daily_roas(purchases([("2025-11-10", "FREE", 10.0)]), costs([("2025-11-09", "OTHER", 1.0)]))
    row = roas_anomalies(daily, D1).set_index("campaign").loc["FREE"]
    assert (row["status"], row["severity"]) == ("no_roas", None)
