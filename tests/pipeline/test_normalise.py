import numpy as np
import pandas as pd
import pytest

from revenue import normalise as n
from revenue.normalise import split_dropped

from .tables import PURCHASE_COLUMNS, raw, raw_purchase

CONFIRMED_COLUMNS = ["appsflyer_id", "event_time_utc", "revenue_usd", "receipt_id"]


def amounts(*texts: str) -> list:
    return n.parse_amount(pd.Series(list(texts), dtype="str")).tolist()


def test_comma_decimal_is_a_decimal_mark():
    assert amounts("1,99", "0,5") == [1.99, 0.5]


def test_with_both_separators_the_last_one_is_the_decimal_mark():
    assert amounts("1.234,56", "1,234.56", "12.345.678,9") == [1234.56, 1234.56, 12345678.9]


def test_plain_and_padded_amounts():
    assert amounts("4.99", " 4.99 ", "1 234,50", "10") == [4.99, 4.99, 1234.5, 10.0]


def test_garbage_amounts_are_nan():
    values = amounts("abc", "", "N/A", "inf", "nan", "$$")
    assert all(np.isnan(value) for value in values)


def test_campaign_trimmed_collapsed_upper_cased():
    names = pd.Series(["  summer   sale ", "Summer\tSale", "SUMMER SALE", ""], dtype="str")
    assert n.normalise_campaign(names).tolist() == ["SUMMER SALE", "SUMMER SALE", "SUMMER SALE", ""]


def test_times_without_offset_are_utc_and_offsets_are_converted():
    times = n.parse_utc_times(
        pd.Series(
            ["2025-11-10 10:00:00", "2025-11-10T10:00:00Z", "2025-11-10T12:00:00+02:00", "garbage", ""],
            dtype="str",
        )
    )
    expected = pd.Timestamp("2025-11-10 10:00:00", tz="UTC")
    assert times.iloc[:3].tolist() == [expected] * 3
    assert times.iloc[3:].isna().all()


def purchases_after(rows: list[dict]) -> tuple[pd.DataFrame, dict]:
    kept, drops = split_dropped(n.normalise_purchases(raw(rows, PURCHASE_COLUMNS)), "purchases")
    return kept, dict(zip(drops["reason"], drops["rows"], strict=False))


def test_status_is_success_case_and_space_insensitive():
    kept, drops = purchases_after(
        [
            raw_purchase(status=" SUCCESS "),
            raw_purchase(status="Success"),
            raw_purchase(status="failed"),
            raw_purchase(status="pending"),
            raw_purchase(status="chargeback"),
        ]
    )
    assert kept["source_row"].tolist() == [0, 1]
    assert drops == {"status_not_success": 3}


def test_only_purchase_events_are_kept():
    kept, drops = purchases_after(
        [
            raw_purchase(event_name="af_purchase"),
            raw_purchase(event_name=" Purchase "),
            raw_purchase(event_name="af_login"),
            raw_purchase(event_name="install"),
        ]
    )
    assert kept["event_name"].tolist() == ["af_purchase", "purchase"]
    assert drops == {"not_purchase_event": 2}


@pytest.mark.parametrize(
    ("revenue", "reason"),
    [
        ("0", "non_positive_revenue"),
        ("-1,99", "non_positive_revenue"),
        ("0,00", "non_positive_revenue"),
        ("abc", "unparseable_revenue"),
        ("", "unparseable_revenue"),
    ],
)
def test_bad_revenue_is_dropped_and_counted(revenue, reason):
    kept, drops = purchases_after([raw_purchase(revenue_usd=revenue), raw_purchase(revenue_usd="1,50")])
    assert kept["revenue_usd"].tolist() == [1.5]
    assert drops == {reason: 1}


def test_unparseable_time_is_dropped_and_counted():
    kept, drops = purchases_after([raw_purchase(event_time_utc="not a time"), raw_purchase()])
    assert len(kept) == 1
    assert drops == {"unparseable_time": 1}


def test_each_row_counts_once_under_its_first_failing_rule():
    _, drops = purchases_after([raw_purchase(status="failed", event_name="af_login", revenue_usd="x")])
    assert drops == {"status_not_success": 1}


def test_chargeback_receipts_are_collected_before_filtering():
    frame = raw(
        [
            raw_purchase(receipt_id="r1"),
            raw_purchase(receipt_id=" r1 ", status=" Chargeback", revenue_usd="garbage"),
            raw_purchase(receipt_id="", status="chargeback"),
        ],
        PURCHASE_COLUMNS,
    )
    assert n.chargeback_receipts(frame)["receipt_id"].tolist() == ["r1"]


def test_confirmed_exact_duplicates_after_normalisation_are_dropped():
    rows = [
        {
            "appsflyer_id": "u1",
            "event_time_utc": "2025-11-10 10:00:00",
            "revenue_usd": "4.99",
            "receipt_id": "g1",
        },
        {
            "appsflyer_id": "u1",
            "event_time_utc": "2025-11-10T12:00:00+02:00",
            "revenue_usd": "4,99",
            "receipt_id": "g1",
        },
        {
            "appsflyer_id": "u1",
            "event_time_utc": "2025-11-10 10:00:00",
            "revenue_usd": "4.99",
            "receipt_id": "g2",
        },
        {
            "appsflyer_id": "u1",
            "event_time_utc": "2025-11-10 10:00:00",
            "revenue_usd": "-4.99",
            "receipt_id": "g3",
        },
        {"appsflyer_id": "u1", "event_time_utc": "bad", "revenue_usd": "4.99", "receipt_id": "g4"},
    ]
    kept, drops = split_dropped(n.normalise_confirmed(raw(rows, CONFIRMED_COLUMNS)), "confirmed")
    assert kept["source_row"].tolist() == [0, 2]
    assert dict(zip(drops["reason"], drops["rows"], strict=False)) == {
        "duplicate_row": 1,
        "non_positive_revenue": 1,
        "unparseable_time": 1,
    }
    assert set(drops["source"]) == {"confirmed"}


def test_costs_parsed_and_bad_rows_counted():
    rows = [
        {"date": "2025-11-10", "campaign": " summer ", "ad_cost_usd": "1.234,50"},
        {"date": "2025-11-10", "campaign": "summer", "ad_cost_usd": "0"},
        {"date": "nope", "campaign": "summer", "ad_cost_usd": "1"},
        {"date": "2025-11-10", "campaign": "summer", "ad_cost_usd": "x"},
        {"date": "2025-11-10", "campaign": "summer", "ad_cost_usd": "-3"},
    ]
    kept, drops = split_dropped(n.normalise_costs(raw(rows, ["date", "campaign", "ad_cost_usd"])), "costs")
    assert kept["ad_cost_usd"].tolist() == [1234.5, 0.0]
    assert kept["campaign"].tolist() == ["SUMMER", "SUMMER"]
    assert dict(zip(drops["reason"], drops["rows"], strict=False)) == {
        "unparseable_date": 1,
        "unparseable_cost": 1,
        "negative_cost": 1,
    }


def test_session_day_from_timestamp_else_date_column():
    rows = [
        {"date": "2025-11-09", "user_id": "a", "event_timestamp_utc": "2025-11-10T00:05:00Z"},
        {"date": "2025-11-09", "user_id": "b", "event_timestamp_utc": ""},
        {"date": "2025-11-10", "user_id": "c", "event_timestamp_utc": "2025-11-10T01:00:00+02:00"},
    ]
    frame = n.normalise_sessions(raw(rows, ["date", "user_id", "event_timestamp_utc"]))
    days = [day.date().isoformat() for day in frame["date"]]
    assert days == ["2025-11-10", "2025-11-09", "2025-11-09"]


def test_impossible_calendar_times_are_unparseable_not_rolled_over():
    times = n.parse_utc_times(
        pd.Series(
            [
                "2025-02-30 10:00:00",
                "2025-02-29T10:00:00Z",
                "2025-11-10 24:00:00",
                "2025-11-10 10:00:60",
                "2024-02-29 10:00:00",
            ],
            dtype="str",
        )
    )
    assert times.iloc[:4].isna().all()
    assert times.iloc[4] == pd.Timestamp("2024-02-29 10:00:00", tz="UTC")
