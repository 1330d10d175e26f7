"""SPEC §5.2: AppsFlyer de-duplication and chargeback flagging."""

from __future__ import annotations

import numpy as np
import pandas as pd

from revenue.io import SOURCE_ROW
from revenue.normalise import DropReasons, later_duplicates

DEDUP_KEY = ["appsflyer_id", "event_time_utc", "event_name", "revenue_usd"]
DUPLICATE_PURCHASE = "duplicate_purchase"


def dedup_purchases(purchases: pd.DataFrame) -> pd.DataFrame:
    """Tag all but the first (in time, then input order) of rows sharing the composite key.

    The time is part of the key, so among equal keys "first in time, then input order" is
    simply the first in input order: rows stay in input order, duplicates tagged in
    ``drop_reason``.
    """
    ordered = purchases.sort_values(SOURCE_ROW, kind="stable", ignore_index=True)
    numeric = pd.DataFrame(
        {
            "time": ordered["event_time_utc"],
            "revenue": ordered["revenue_usd"],
            "event": pd.factorize(ordered["event_name"])[0],
        }
    )
    duplicated = later_duplicates(ordered, DEDUP_KEY, numeric)
    reasons = DropReasons(len(ordered))
    reasons.tag(duplicated, DUPLICATE_PURCHASE)
    return reasons.attach(ordered)


def flag_chargebacks(purchases: pd.DataFrame, chargebacks: pd.DataFrame) -> pd.DataFrame:
    """Purchases whose receipt was charged back keep their record with revenue 0.

    Adds ``chargeback`` (bool) and ``original_revenue_usd`` (the amount before zeroing, equal
    to ``revenue_usd`` for every other purchase).
    """
    receipts = purchases["receipt_id"]
    charged_back = (receipts.isin(chargebacks["receipt_id"]) & (receipts != "")).to_numpy(dtype=bool)
    flagged = purchases.copy()
    flagged["original_revenue_usd"] = purchases["revenue_usd"].astype("float64")
    flagged["revenue_usd"] = np.where(charged_back, 0.0, flagged["original_revenue_usd"].to_numpy())
    flagged["chargeback"] = charged_back
    return flagged
