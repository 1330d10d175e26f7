import pandas as pd

from revenue.dedup import dedup_purchases, flag_chargebacks
from revenue.normalise import normalise_purchases, split_dropped

from .tables import PURCHASE_COLUMNS, raw, raw_purchase


def curated_from(rows: list[dict], chargebacks: list[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    normalised, _ = split_dropped(normalise_purchases(raw(rows, PURCHASE_COLUMNS)), "purchases")
    unique, dropped = split_dropped(dedup_purchases(normalised), "purchases")
    return flag_chargebacks(unique, pd.DataFrame({"receipt_id": list(chargebacks)}, dtype="str")), dropped


def test_duplicates_on_the_composite_key_keep_the_first_in_input_order():
    curated, dropped = curated_from(
        [
            raw_purchase(receipt_id="late", event_time_utc="2025-11-10 12:00:00"),
            raw_purchase(receipt_id="first", revenue_usd="4,99"),
            raw_purchase(receipt_id="second", event_time_utc="2025-11-10T12:00:00+02:00", campaign="other"),
        ]
    )
    assert curated["receipt_id"].tolist() == ["late", "first"]
    assert dropped["rows"].tolist() == [1] and dropped["reason"].tolist() == ["duplicate_purchase"]


def test_output_keeps_input_order():
    curated, _ = curated_from(
        [
            raw_purchase(receipt_id="b", event_time_utc="2025-11-10 11:00:00"),
            raw_purchase(receipt_id="a", event_time_utc="2025-11-10 09:00:00", revenue_usd="1"),
            raw_purchase(receipt_id="c", event_time_utc="2025-11-10 09:00:00", revenue_usd="2"),
        ]
    )
    assert curated["receipt_id"].tolist() == ["b", "a", "c"]


def test_key_differs_by_event_name_or_revenue_or_user():
    curated, dropped = curated_from(
        [
            raw_purchase(),
            raw_purchase(event_name="purchase"),
            raw_purchase(revenue_usd="5.00"),
            raw_purchase(appsflyer_id="u2"),
        ]
    )
    assert len(curated) == 4 and dropped.empty


def test_chargebacked_purchase_keeps_its_record_with_zero_revenue():
    curated, _ = curated_from(
        [raw_purchase(receipt_id="r1"), raw_purchase(receipt_id="r2", revenue_usd="1,99")], chargebacks=["r2"]
    )
    by_receipt = curated.set_index("receipt_id")
    assert by_receipt.loc["r2", "chargeback"] and not by_receipt.loc["r1", "chargeback"]
    assert by_receipt.loc["r2", "revenue_usd"] == 0.0
    assert by_receipt.loc["r2", "original_revenue_usd"] == 1.99
    assert by_receipt.loc["r1", "revenue_usd"] == by_receipt.loc["r1", "original_revenue_usd"] == 4.99


def test_empty_receipt_is_never_a_chargeback():
    curated, _ = curated_from([raw_purchase(receipt_id="")], chargebacks=[""])
    assert not curated["chargeback"].any()
