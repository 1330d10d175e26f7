"""SPEC §5.1: text to typed values, and the row filters, each dropped row tagged with its reason.

Every function here is DataFrame -> DataFrame. A row that fails a rule is not removed but
tagged in ``drop_reason`` (the first failing rule wins), so one place (``split_dropped``)
both removes it and counts it for ``dataQuality``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from revenue.io import SOURCE_ROW

DROP_REASON = "drop_reason"
PURCHASE_EVENTS = ("af_purchase", "purchase")
TIME_UNIT = "us"

# Drop reasons, in the order the rules are applied (also the order reports list them).
STATUS_NOT_SUCCESS = "status_not_success"
NOT_PURCHASE_EVENT = "not_purchase_event"
UNPARSEABLE_REVENUE = "unparseable_revenue"
NON_POSITIVE_REVENUE = "non_positive_revenue"
UNPARSEABLE_TIME = "unparseable_time"
DUPLICATE_ROW = "duplicate_row"
UNPARSEABLE_COST = "unparseable_cost"
NEGATIVE_COST = "negative_cost"
UNPARSEABLE_DATE = "unparseable_date"
MISSING_USER_ID = "missing_user_id"


def per_unique(text: pd.Series, transform: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply ``transform`` to each distinct value once and broadcast back.

    Exports repeat a few campaigns, statuses and price points across millions of rows, so
    string work on the distinct values is far cheaper than on the rows.
    """
    codes, uniques = pd.factorize(text.astype("str").fillna(""), sort=False)
    transformed = transform(pd.Series(uniques, dtype="str")).reset_index(drop=True)
    return pd.Series(transformed.array.take(codes), index=text.index)


def _parse_amount_unique(text: pd.Series) -> pd.Series:
    cleaned = text.str.replace(r"\s+", "", regex=True)
    # Rewrite only what plain parsing would misread: a comma, or several dots.
    rewrite = (cleaned.str.contains(",", regex=False) | (cleaned.str.count(r"\.") > 1)).to_numpy(dtype=bool)
    if rewrite.any():
        marked = cleaned[rewrite].str.replace(r"^(.*)[.,]([^.,]*)$", r"\1#\2", regex=True)
        cleaned = cleaned.copy()
        cleaned[rewrite] = marked.str.replace(r"[.,]", "", regex=True).str.replace("#", ".", regex=False)
    values = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def parse_amount(text: pd.Series) -> pd.Series:
    """Money text to float64 (NaN when unparseable or not finite).

    Of ``.`` and ``,`` the last one present is the decimal mark and every other separator
    is a thousands separator: ``1,99`` -> 1.99, ``1.234,56`` -> 1234.56, ``1,234.56`` -> 1234.56.
    """
    return per_unique(text, _parse_amount_unique)


def _normalise_campaign_unique(text: pd.Series) -> pd.Series:
    return text.str.strip().str.replace(r"\s+", " ", regex=True).str.upper()


def normalise_campaign(text: pd.Series) -> pd.Series:
    """Trimmed, inner whitespace collapsed to one space, upper-cased."""
    return per_unique(text, _normalise_campaign_unique)


def normalise_token(text: pd.Series) -> pd.Series:
    """Status / event name for comparison: trimmed and lower-cased."""
    return per_unique(text, lambda unique: unique.str.strip().str.lower())


def parse_utc_times(text: pd.Series) -> pd.Series:
    """ISO-like text to UTC timestamps; no offset means UTC, an offset is converted; NaT if unparseable."""
    stripped = text.astype("str").fillna("").str.strip()
    parsed = pd.to_datetime(stripped, utc=True, errors="coerce", format="ISO8601")
    return parsed.dt.as_unit(TIME_UNIT)


def parse_dates(text: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` (or any ISO time, whose UTC day is taken) to a UTC midnight timestamp."""
    return parse_utc_times(text).dt.floor("D")


def _tag(reasons: np.ndarray, failing: np.ndarray, reason: str) -> None:
    """Tag rows failing a rule unless an earlier rule already tagged them."""
    reasons[failing & (reasons == "")] = reason


def _finish(frame: pd.DataFrame, reasons: np.ndarray) -> pd.DataFrame:
    frame[DROP_REASON] = pd.Series(reasons, index=frame.index, dtype="str").replace("", pd.NA)
    return frame


def _amount_reasons(revenue: pd.Series, reasons: np.ndarray) -> None:
    values = revenue.to_numpy(dtype="float64", na_value=np.nan)
    _tag(reasons, np.isnan(values), UNPARSEABLE_REVENUE)
    _tag(reasons, values <= 0, NON_POSITIVE_REVENUE)


def _typed_purchases(raw: pd.DataFrame) -> pd.DataFrame:
    """The columns both purchase sources share, typed."""
    return pd.DataFrame({
        SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
        "appsflyer_id": raw["appsflyer_id"].astype("str").str.strip(),
        "event_time_utc": parse_utc_times(raw["event_time_utc"]),
        "revenue_usd": parse_amount(raw["revenue_usd"]),
        "receipt_id": raw["receipt_id"].astype("str").str.strip(),
    })


def chargeback_receipts(raw_purchases: pd.DataFrame) -> pd.DataFrame:
    """Receipt ids of every AppsFlyer row whose status is ``chargeback``, taken before any filtering."""
    status = normalise_token(raw_purchases["status"])
    receipts = raw_purchases.loc[status == "chargeback", "receipt_id"].astype("str").str.strip()
    receipts = receipts[receipts != ""].drop_duplicates()
    return pd.DataFrame({"receipt_id": receipts.to_numpy()}).astype({"receipt_id": "str"})


def normalise_purchases(raw: pd.DataFrame) -> pd.DataFrame:
    """AppsFlyer purchases typed and tagged: success status, purchase event, revenue > 0, valid time."""
    frame = _typed_purchases(raw).assign(
        event_name=normalise_token(raw["event_name"]), campaign=normalise_campaign(raw["campaign"]),
    )
    status = normalise_token(raw["status"]).to_numpy()
    reasons = np.full(len(frame), "", dtype=object)
    _tag(reasons, status != "success", STATUS_NOT_SUCCESS)
    _tag(reasons, ~frame["event_name"].isin(PURCHASE_EVENTS).to_numpy(), NOT_PURCHASE_EVENT)
    _amount_reasons(frame["revenue_usd"], reasons)
    _tag(reasons, frame["event_time_utc"].isna().to_numpy(), UNPARSEABLE_TIME)
    return _finish(frame, reasons)


def normalise_confirmed(raw: pd.DataFrame) -> pd.DataFrame:
    """Gateway purchases typed and tagged: revenue > 0, valid time, exact duplicates after the first."""
    frame = _typed_purchases(raw)
    reasons = np.full(len(frame), "", dtype=object)
    _amount_reasons(frame["revenue_usd"], reasons)
    _tag(reasons, frame["event_time_utc"].isna().to_numpy(), UNPARSEABLE_TIME)
    # Duplicates are judged among otherwise valid rows, the first in input order kept.
    valid = reasons == ""
    duplicated = np.zeros(len(frame), dtype=bool)
    key = ["appsflyer_id", "event_time_utc", "revenue_usd", "receipt_id"]
    duplicated[valid] = frame.loc[valid, key].duplicated(keep="first").to_numpy()
    _tag(reasons, duplicated, DUPLICATE_ROW)
    return _finish(frame, reasons)


def normalise_costs(raw: pd.DataFrame) -> pd.DataFrame:
    """Daily cost rows typed and tagged: parseable date, parseable non-negative cost."""
    frame = pd.DataFrame({
        SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
        "date": parse_dates(raw["date"]),
        "campaign": normalise_campaign(raw["campaign"]),
        "ad_cost_usd": parse_amount(raw["ad_cost_usd"]),
    })
    cost = frame["ad_cost_usd"].to_numpy(dtype="float64", na_value=np.nan)
    reasons = np.full(len(frame), "", dtype=object)
    _tag(reasons, frame["date"].isna().to_numpy(), UNPARSEABLE_DATE)
    _tag(reasons, np.isnan(cost), UNPARSEABLE_COST)
    _tag(reasons, cost < 0, NEGATIVE_COST)
    return _finish(frame, reasons)


def normalise_sessions(raw: pd.DataFrame) -> pd.DataFrame:
    """Sessions with their UTC activity day: the day of ``event_timestamp_utc``, else ``date``."""
    from_timestamp = parse_utc_times(raw["event_timestamp_utc"]).dt.floor("D")
    day = from_timestamp.fillna(parse_dates(raw["date"]))
    frame = pd.DataFrame({
        SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
        "user_id": raw["user_id"].astype("str").str.strip(),
        "date": day,
    })
    reasons = np.full(len(frame), "", dtype=object)
    _tag(reasons, (frame["user_id"] == "").to_numpy(), MISSING_USER_ID)
    _tag(reasons, frame["date"].isna().to_numpy(), UNPARSEABLE_TIME)
    return _finish(frame, reasons)


def split_dropped(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kept rows (without the tag column) and the drop counts ``source, reason, rows``."""
    dropped = frame[DROP_REASON].notna().to_numpy()
    counts = frame.loc[dropped, DROP_REASON].value_counts(sort=False)
    drops = pd.DataFrame({
        "source": pd.Series([source] * len(counts), dtype="str"),
        "reason": pd.Series(counts.index.to_numpy(), dtype="str"),
        "rows": counts.to_numpy(dtype="int64"),
    })
    kept = frame.loc[~dropped].drop(columns=DROP_REASON).reset_index(drop=True)
    return kept, drops
