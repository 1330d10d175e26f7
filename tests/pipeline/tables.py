"""Small hand-made pipeline tables for the tests."""

from __future__ import annotations

import pandas as pd

from revenue.io import SOURCE_ROW

PURCHASE_COLUMNS = [
    "appsflyer_id",
    "event_time_utc",
    "event_name",
    "revenue_usd",
    "campaign",
    "receipt_id",
    "status",
]


def raw(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A text frame as read_input_csv returns it (missing cells empty, source_row in input order)."""
    frame = pd.DataFrame(
        [{column: row.get(column, "") for column in columns} for row in rows], columns=columns
    )
    frame = frame.astype("str")
    frame[SOURCE_ROW] = range(len(frame))
    return frame.astype({SOURCE_ROW: "int64"})


def raw_purchase(**overrides: str) -> dict:
    row = {
        "appsflyer_id": "u1",
        "event_time_utc": "2025-11-10 10:00:00",
        "event_name": "af_purchase",
        "revenue_usd": "4.99",
        "campaign": "SUMMER",
        "receipt_id": "r1",
        "status": "success",
    }
    return row | overrides


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def curated(rows: list[dict]) -> pd.DataFrame:
    """Curated AppsFlyer purchases as the dedup stage leaves them."""
    defaults = {"event_name": "af_purchase", "campaign": "SUMMER", "receipt_id": "", "chargeback": False}
    records = []
    for index, row in enumerate(rows):
        record = defaults | {"receipt_id": f"r{index}"} | row
        record["event_time_utc"] = ts(record["event_time_utc"])
        record.setdefault("original_revenue_usd", record["revenue_usd"])
        if record["chargeback"]:
            record["revenue_usd"] = 0.0
        record.setdefault(SOURCE_ROW, index)
        records.append(record)
    frame = pd.DataFrame(records)
    frame["event_time_utc"] = frame["event_time_utc"].astype("datetime64[us, UTC]")
    return frame


def confirmed(rows: list[dict]) -> pd.DataFrame:
    records = []
    for index, row in enumerate(rows):
        record = {"receipt_id": f"g{index}", SOURCE_ROW: index} | row
        record["event_time_utc"] = ts(record["event_time_utc"])
        records.append(record)
    frame = pd.DataFrame(records)
    frame["event_time_utc"] = frame["event_time_utc"].astype("datetime64[us, UTC]")
    return frame
