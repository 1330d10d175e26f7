"""postbacks_to_purchases: AppsFlyer postback payloads as purchases_raw.csv text rows."""

import json

from revenue.postbacks import PURCHASE_COLUMNS, is_purchase_postback, postbacks_to_purchases


def row(postback_id, **payload):
    return {"id": postback_id, "payload": json.dumps(payload)}


BRIEF_EXAMPLE = {  # brief §2.4, verbatim
    "event_name": "af_purchase",
    "appsflyer_id": "1234567890-abcdef",
    "customer_user_id": "player_12345",
    "event_revenue_usd": "9.99",
    "event_time": "2025-11-12 18:00:00",
    "campaign": "summer_campaign",
    "media_source": "google_ads",
}


def test_brief_example_becomes_one_success_purchase():
    frame = postbacks_to_purchases([row(7, **BRIEF_EXAMPLE)])
    assert list(frame.columns) == list(PURCHASE_COLUMNS)
    assert frame.to_dict("records") == [
        {
            "appsflyer_id": "1234567890-abcdef",
            "event_time_utc": "2025-11-12 18:00:00",
            "event_name": "af_purchase",
            "revenue_usd": "9.99",
            "campaign": "summer_campaign",
            "receipt_id": "postback-7",
            "status": "success",
        }
    ]


def test_every_value_is_text_even_when_the_payload_has_numbers():
    frame = postbacks_to_purchases([row(1, event_name="purchase", appsflyer_id=42, event_revenue_usd=4.5)])
    record = frame.iloc[0].to_dict()
    assert record["appsflyer_id"] == "42" and record["revenue_usd"] == "4.5"
    assert all(isinstance(value, str) for value in record.values())


def test_revenue_falls_back_from_usd_to_event_revenue_to_af_revenue():
    frames = postbacks_to_purchases(
        [
            row(
                1,
                event_name="af_purchase",
                appsflyer_id="a",
                event_revenue_usd="1.5",
                event_revenue="9",
                af_revenue="8",
            ),
            row(2, event_name="af_purchase", appsflyer_id="a", event_revenue="2,5", af_revenue="8"),
            row(3, event_name="af_purchase", appsflyer_id="a", af_revenue="3.25"),
            row(
                4, event_name="af_purchase", appsflyer_id="a", event_value=json.dumps({"af_revenue": "4.75"})
            ),
            row(
                5,
                event_name="af_purchase",
                appsflyer_id="a",
                event_revenue_usd="",
                event_value={"af_revenue": 5},
            ),
            row(6, event_name="af_purchase", appsflyer_id="a"),
        ]
    )
    assert frames["revenue_usd"].tolist() == ["1.5", "2,5", "3.25", "4.75", "5", ""]


def test_receipt_from_af_receipt_id_then_receipt_id_then_postback_id():
    frame = postbacks_to_purchases(
        [
            row(1, event_name="af_purchase", af_receipt_id="R1", receipt_id="R-other"),
            row(2, event_name="af_purchase", receipt_id="R2"),
            row(3, event_name="af_purchase", event_value='{"af_receipt_id": "R3"}'),
            row(4, event_name="af_purchase"),
        ]
    )
    assert frame["receipt_id"].tolist() == ["R1", "R2", "R3", "postback-4"]


def test_user_falls_back_to_customer_user_id_when_appsflyer_id_is_missing():
    frame = postbacks_to_purchases([row(1, event_name="af_purchase", customer_user_id="player_1")])
    assert frame["appsflyer_id"].tolist() == ["player_1"]


def test_non_purchase_events_are_passed_through_for_normalise_to_drop():
    frame = postbacks_to_purchases([row(1, event_name="install", appsflyer_id="a")])
    assert frame[["event_name", "status"]].values.tolist() == [["install", "success"]]


def test_unparseable_or_non_object_payloads_become_empty_rows_named_by_postback():
    frame = postbacks_to_purchases([{"id": 8, "payload": "not json"}, {"id": 9, "payload": "[1, 2]"}])
    assert frame["receipt_id"].tolist() == ["postback-8", "postback-9"]
    assert frame["event_name"].tolist() == ["", ""]
    assert frame["revenue_usd"].tolist() == ["", ""]


def test_nested_or_null_values_are_not_stringified():
    frame = postbacks_to_purchases([row(1, event_name="af_purchase", campaign=None, event_time={"x": 1})])
    assert frame.iloc[0]["campaign"] == "" and frame.iloc[0]["event_time_utc"] == ""


def test_no_rows_gives_an_empty_frame_with_the_csv_columns():
    frame = postbacks_to_purchases([])
    assert frame.empty and list(frame.columns) == list(PURCHASE_COLUMNS)


def test_is_purchase_postback_matches_the_normalise_event_names():
    assert is_purchase_postback('{"event_name": " AF_Purchase "}')
    assert is_purchase_postback('{"event_name": "purchase"}')
    assert not is_purchase_postback('{"event_name": "af_install"}')
    assert not is_purchase_postback('{"event_name": 3}')
    assert not is_purchase_postback("{broken")
