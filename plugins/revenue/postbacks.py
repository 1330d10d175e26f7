"""AppsFlyer postbacks stored by the service (raw_postbacks) as rows of purchases_raw.csv.

Pure: the caller reads the rows from the database and passes ``{"id", "payload"}`` dicts.
Every value comes out as text, like a cell of purchases_raw.csv (missing = ""), so the
library's normal rules (normalise, dedup, reconcile) decide what each row is worth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from revenue.io import INPUT_SCHEMAS

PURCHASE_COLUMNS = INPUT_SCHEMAS["purchases"]
# The same purchase events normalise keeps (SPEC §5), compared trimmed and case-insensitively.
PURCHASE_EVENT_NAMES = frozenset({"af_purchase", "purchase"})
REVENUE_KEYS = ("event_revenue_usd", "event_revenue", "af_revenue")
RECEIPT_KEYS = ("af_receipt_id", "receipt_id")
USER_KEYS = ("appsflyer_id", "customer_user_id")


def parse_payload(payload: str) -> dict[str, Any]:
    """The postback as a dict; {} when the stored text is not a JSON object."""
    try:
        parsed = json.loads(payload)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def is_purchase_postback(payload: str) -> bool:
    event_name = parse_payload(payload).get("event_name")
    return isinstance(event_name, str) and event_name.strip().lower() in PURCHASE_EVENT_NAMES


def _event_value(postback: Mapping[str, Any]) -> dict[str, Any]:
    # AppsFlyer's Push API nests in-app event parameters (af_revenue, af_receipt_id) in
    # event_value, a JSON object sent either as an object or as a JSON string.
    value = postback.get("event_value")
    if isinstance(value, str):
        return parse_payload(value)
    return dict(value) if isinstance(value, Mapping) else {}


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def _first_text(sources: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> str:
    """The first non-empty value of ``keys`` (in key order), looking in each source in turn."""
    sources = list(sources)
    for key in keys:
        for source in sources:
            text = _as_text(source.get(key))
            if text:
                return text
    return ""


def postback_to_purchase(postback_id: int, payload: str) -> dict[str, str]:
    postback = parse_payload(payload)
    sources = (postback, _event_value(postback))
    return {
        "appsflyer_id": _first_text(sources, USER_KEYS),
        "event_time_utc": _as_text(postback.get("event_time")),
        "event_name": _as_text(postback.get("event_name")),
        "revenue_usd": _first_text(sources, REVENUE_KEYS),
        "campaign": _as_text(postback.get("campaign")),
        # Without a receipt the row still needs an identity that names its source postback.
        "receipt_id": _first_text(sources, RECEIPT_KEYS) or f"postback-{postback_id}",
        "status": "success",
    }


def postbacks_to_purchases(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """purchases_raw.csv-shaped text rows, one per postback, in the order given."""
    records = [postback_to_purchase(int(row["id"]), row["payload"]) for row in rows]
    return pd.DataFrame(records, columns=list(PURCHASE_COLUMNS), dtype="object").astype(str)
