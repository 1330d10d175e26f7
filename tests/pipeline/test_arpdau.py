import datetime as dt
import math

import pandas as pd

from revenue.arpdau import arpdau_d1, user_campaigns

from .tables import curated

D1 = dt.date(2025, 11, 10)


def sessions(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """(user, UTC day) pairs as the normalise stage leaves them."""
    frame = pd.DataFrame(rows, columns=["user_id", "date"])
    frame["date"] = pd.to_datetime(frame["date"], utc=True).astype("datetime64[us, UTC]")
    frame["source_row"] = range(len(frame))
    return frame


def table(purchases: pd.DataFrame, active: pd.DataFrame) -> dict[str, tuple[float, int, float]]:
    result = arpdau_d1(purchases, active, D1)
    return {row.campaign: (row.revenue_usd, row.dau, row.arpdau) for row in result.itertuples()}


def test_user_campaign_is_the_campaign_of_the_earliest_purchase():
    purchases = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-09 10:00:00",
                "campaign": "LATER",
                "revenue_usd": 1.0,
            },
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-01 10:00:00",
                "campaign": "FIRST",
                "revenue_usd": 1.0,
            },
            {
                "appsflyer_id": "u2",
                "event_time_utc": "2025-11-05 10:00:00",
                "campaign": "",
                "revenue_usd": 1.0,
            },
        ]
    )
    campaigns = dict(user_campaigns(purchases).itertuples(index=False))
    assert campaigns == {"u1": "FIRST", "u2": "ORGANIC"}


def test_campaign_rows_organic_and_all():
    purchases = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:00:00",
                "campaign": "A",
                "revenue_usd": 10.0,
            },
            {
                "appsflyer_id": "u2",
                "event_time_utc": "2025-11-03 10:00:00",
                "campaign": "A",
                "revenue_usd": 99.0,
            },
            {
                "appsflyer_id": "u3",
                "event_time_utc": "2025-11-10 11:00:00",
                "campaign": "B",
                "revenue_usd": 4.0,
            },
        ]
    )
    active = sessions(
        [
            ("u1", "2025-11-10"),
            ("u1", "2025-11-10"),
            ("u2", "2025-11-10"),
            ("o1", "2025-11-10"),
            ("o2", "2025-11-10"),
            ("o3", "2025-11-09"),
        ]
    )
    result = table(purchases, active)
    assert result["A"] == (10.0, 2, 5.0)
    assert result["ORGANIC"] == (0.0, 2, 0.0)
    revenue, dau, arpdau = result["B"]  # revenue on D-1 but its user was not active: DAU 0, ARPDAU null
    assert (revenue, dau) == (4.0, 0) and math.isnan(arpdau)
    assert result["ALL"] == (14.0, 4, 3.5)
    assert list(result)[-1] == "ALL"


def test_campaign_without_dau_or_revenue_on_d1_is_left_out():
    purchases = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-02 10:00:00",
                "campaign": "OLD",
                "revenue_usd": 10.0,
            },
        ]
    )
    result = table(purchases, sessions([("x", "2025-11-10")]))
    assert set(result) == {"ORGANIC", "ALL"}


def test_chargebacked_revenue_counts_as_zero():
    purchases = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:00:00",
                "campaign": "A",
                "revenue_usd": 10.0,
                "chargeback": True,
            },
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 12:00:00",
                "campaign": "A",
                "revenue_usd": 2.0,
            },
        ]
    )
    assert table(purchases, sessions([("u1", "2025-11-10")]))["A"] == (2.0, 1, 2.0)


def test_all_is_null_without_active_users():
    purchases = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:00:00",
                "campaign": "A",
                "revenue_usd": 10.0,
            },
        ]
    )
    revenue, dau, arpdau = table(purchases, sessions([("u1", "2025-11-09")]))["ALL"]
    assert (revenue, dau) == (10.0, 0) and math.isnan(arpdau)
