"""SPEC §5.4: ROAS per campaign and UTC day, the D-1 view, and anomalies against D-8..D-2."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

ANOMALY_RATIO = 0.5
CRITICAL_RATIO = 0.25
MIN_BASELINE_DAYS = 3
# The baseline window D-8..D-2, in days before the report date D-1.
BASELINE_FROM_DAYS_BEFORE, BASELINE_TO_DAYS_BEFORE = 7, 1
ORGANIC = "ORGANIC"

OK, ANOMALY, INSUFFICIENT_HISTORY, NO_ROAS = "ok", "anomaly", "insufficient_history", "no_roas"


def utc_day(times: pd.Series) -> pd.Series:
    """The UTC calendar day of each timestamp, as a tz-naive midnight timestamp."""
    day: pd.Series = times.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D")
    return day


def campaign_label(campaign: pd.Series) -> pd.Series:
    """Campaign as reported: a purchase without a campaign is organic."""
    return campaign.where(campaign != "", ORGANIC)


def daily_roas(curated: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """One row per (date, campaign) with revenue or a cost row: revenue, cost, purchases, roas.

    Revenue is curated AppsFlyer revenue (chargebacks at 0); cost rows of one day and campaign
    are summed. ``roas`` is null when cost is 0 or missing, and 0 when cost > 0 with no revenue.
    Revenue goes through the same exact partial sums a sharded run combines, so every shard
    count gives this very table.
    """
    from revenue.partition import combine_revenue_partials, revenue_partials

    return daily_roas_from_revenue(combine_revenue_partials([revenue_partials(curated)]), costs)


def daily_roas_from_revenue(revenue: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """``daily_roas`` from revenue already summed per day and campaign
    (``date, campaign, revenue_usd, purchases``)."""
    revenue = revenue.set_index(["date", "campaign"])[["revenue_usd", "purchases"]]
    cost = (
        costs.assign(date=costs["date"].dt.tz_convert("UTC").dt.tz_localize(None))
        .groupby(["date", "campaign"], sort=False)
        .agg(cost_usd=("ad_cost_usd", "sum"))
    )
    daily = revenue.join(cost, how="outer").reset_index()
    daily["revenue_usd"] = daily["revenue_usd"].fillna(0.0)
    daily["purchases"] = daily["purchases"].fillna(0).astype("int64")
    cost_values = daily["cost_usd"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = daily["revenue_usd"].to_numpy() / cost_values
    daily["roas"] = np.where(cost_values > 0, ratio, np.nan)
    return daily.sort_values(["date", "campaign"], ignore_index=True)


def latest_cost_date(costs: pd.DataFrame) -> dt.date | None:
    """Default report date of a manual run: the latest date in costs_daily (SPEC §6)."""
    return costs["date"].max().date() if len(costs) else None


def roas_d1(daily: pd.DataFrame, report_date: dt.date) -> pd.DataFrame:
    """Every campaign with a cost row or revenue on the report date."""
    on_day = daily[(daily["date"] == pd.Timestamp(report_date))]
    listed = on_day["cost_usd"].notna() | (on_day["revenue_usd"] > 0)
    return on_day[listed].sort_values("campaign", ignore_index=True)


def roas_anomalies(daily: pd.DataFrame, report_date: dt.date) -> pd.DataFrame:
    """For each D-1 campaign: baseline (mean ROAS over D-8..D-2 days with a ROAS), status, severity,
    insight."""
    d1 = roas_d1(daily, report_date)
    first = pd.Timestamp(report_date - dt.timedelta(days=BASELINE_FROM_DAYS_BEFORE))
    last = pd.Timestamp(report_date - dt.timedelta(days=BASELINE_TO_DAYS_BEFORE))
    window = daily[(daily["date"] >= first) & (daily["date"] <= last) & daily["roas"].notna()]
    baseline = window.groupby("campaign").agg(
        baseline_roas=("roas", "mean"),
        baseline_days=("roas", "size"),
        baseline_revenue_usd=("revenue_usd", "mean"),
        baseline_cost_usd=("cost_usd", "mean"),
    )
    result = d1.join(baseline, on="campaign")
    result["baseline_days"] = result["baseline_days"].fillna(0).astype("int64")
    statuses, severities, insights = [], [], []
    row: Any  # a named tuple of the joined columns
    for row in result.itertuples(index=False):  # one row per campaign: tens, not millions
        status, severity = classify(
            row.roas, row.baseline_roas, row.baseline_days, row.revenue_usd, row.cost_usd
        )
        statuses.append(status)
        severities.append(severity)
        insights.append(insight(row) if status == ANOMALY else None)
    result["status"] = statuses
    result["severity"] = severities
    result["insight"] = insights
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = result["roas"] / result["baseline_roas"]
    result["ratio_to_baseline"] = ratio.where(result["baseline_roas"] > 0)
    return result


def classify(
    roas: float,
    baseline: float,
    baseline_days: int,
    revenue: float,
    cost: float,
) -> tuple[str, str | None]:
    """(status, severity) of one campaign's D-1 ROAS against its baseline."""
    if roas is None or math.isnan(roas):  # no D-1 cost: nothing to compare, whatever the history
        return NO_ROAS, None
    if baseline_days < MIN_BASELINE_DAYS:
        return INSUFFICIENT_HISTORY, None
    if not roas < ANOMALY_RATIO * baseline:
        return OK, None
    if roas < CRITICAL_RATIO * baseline or (revenue == 0 and cost > 0):
        return ANOMALY, "critical"
    return ANOMALY, "warning"


def _move(label: str, now: float, before: float) -> str:
    if before == 0:
        return f"{label} ${now:,.2f} (baseline $0.00)"
    change = now / before - 1
    if abs(change) < 0.01:
        return f"{label} flat at ${now:,.2f}"
    verb = "up" if change > 0 else "down"
    return f"{label} {verb} {abs(change):.0%} to ${now:,.2f} (baseline ${before:,.2f})"


def _log_ratio(now: float, before: float) -> float:
    if now <= 0 or before <= 0:
        return math.inf if now != before else 0.0
    return abs(math.log(now / before))


def insight(row: Any) -> str:
    """One sentence naming what moved, revenue or cost, against the baseline averages."""
    revenue_moved = _log_ratio(row.revenue_usd, row.baseline_revenue_usd)
    cost_moved = _log_ratio(row.cost_usd, row.baseline_cost_usd)
    driver = "revenue" if revenue_moved >= cost_moved else "cost"
    return (
        f"{row.campaign} ROAS fell to {row.roas:.2f} from a {row.baseline_roas:.2f} baseline, "
        f"mostly on {driver}: {_move('revenue', row.revenue_usd, row.baseline_revenue_usd)}, "
        f"{_move('cost', row.cost_usd, row.baseline_cost_usd)}."
    )
