"""SPEC §5.1: text to typed values, and the row filters, each dropped row tagged with its reason.

The normalise_* functions are DataFrame -> DataFrame. A row that fails a rule is not removed but
tagged in ``drop_reason`` (the first failing rule wins), so one place (``split_dropped``)
both removes it and counts it for ``dataQuality``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from revenue.io import SOURCE_ROW

DROP_REASON = "drop_reason"
PURCHASE_EVENTS = ("af_purchase", "purchase")
TIME_UNIT = "us"

# Drop reasons as counted in dataQuality.
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
IMPLAUSIBLE_REVENUE = "implausible_revenue"

# Revenue above this is no purchase (SPEC §5): summing such values would overflow to inf.
DEFAULT_MAX_PURCHASE_USD = 10_000.0


def max_purchase_usd() -> float:
    """The service's MAX_PURCHASE_USD, so the pipeline drops what the postback API refuses."""
    return float(os.environ.get("MAX_PURCHASE_USD") or DEFAULT_MAX_PURCHASE_USD)


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


# Notations parsed by pyarrow's fast strptime (format, date/time separator, suffix); anything
# else (offsets, fractions, odd padding) goes to pandas.
_FAST_TIME_FORMATS = (
    ("%Y-%m-%d %H:%M:%S", " ", ""),
    ("%Y-%m-%dT%H:%M:%S", "T", ""),
    ("%Y-%m-%dT%H:%M:%SZ", "T", "Z"),
)


def _strict_strptime(text: pa.Array, time_format: str, separator: str, suffix: str) -> pa.Array:
    """pyarrow strptime, but only where the value prints back as the input.

    strptime rolls invalid values over (``02-30`` becomes March 2, ``:60`` the next minute);
    those must stay unparseable.
    """
    parsed = pc.strptime(text, format=time_format, unit="s", error_is_null=True)
    printed = pc.replace_substring(pc.cast(parsed, pa.string()), " ", separator, max_replacements=1)
    same = pc.equal(pc.binary_join_element_wise(printed, suffix, ""), text)
    return pc.if_else(same, parsed, pa.scalar(None, parsed.type))


def parse_utc_times(text: pd.Series) -> pd.Series:
    """ISO-like text to UTC timestamps; no offset means UTC, an offset is converted; NaT if unparseable."""
    stripped = pc.utf8_trim_whitespace(pa.array(text.astype("str").fillna(""), type=pa.large_string()))
    values = np.full(len(stripped), np.datetime64("NaT"), dtype=f"datetime64[{TIME_UNIT}]")
    pending = pc.not_equal(stripped, "").to_numpy(zero_copy_only=False)
    # Each notation is tried only on the rows no earlier notation could read.
    for notation in _FAST_TIME_FORMATS:
        rows = np.flatnonzero(pending)
        if len(rows) == 0:
            break
        subset = stripped if len(rows) == len(stripped) else stripped.take(pa.array(rows))
        attempt = _strict_strptime(subset, *notation)
        parsed = attempt.to_numpy(zero_copy_only=False).astype(f"datetime64[{TIME_UNIT}]")
        read = ~np.isnat(parsed)
        values[rows[read]] = parsed[read]
        pending[rows[read]] = False
    rows = np.flatnonzero(pending)
    if len(rows):
        slow = pd.to_datetime(
            stripped.take(pa.array(rows)).to_pandas(), utc=True, errors="coerce", format="ISO8601"
        )
        values[rows] = slow.dt.tz_localize(None).dt.as_unit(TIME_UNIT).to_numpy()
    return pd.Series(values, index=text.index).dt.tz_localize("UTC")


def parse_dates(text: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` (or any ISO time, whose UTC day is taken) to a UTC midnight timestamp."""
    return per_unique(text, lambda unique: parse_utc_times(unique).dt.floor("D"))


class DropReasons:
    """Each row's drop reason as a small code: the first rule a row fails wins."""

    def __init__(self, rows: int) -> None:
        self.codes = np.zeros(rows, dtype=np.int16)
        self.names: list[str] = []

    def tag(self, failing: np.ndarray, reason: str) -> None:
        self.names.append(reason)
        self.codes[failing & (self.codes == 0)] = len(self.names)

    @property
    def kept(self) -> np.ndarray:
        return np.asarray(self.codes == 0)

    def attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the ``drop_reason`` column (null for kept rows)."""
        frame[DROP_REASON] = pd.Categorical.from_codes(self.codes - 1, categories=pd.Index(self.names))
        return frame


def _amount_reasons(revenue: pd.Series, reasons: DropReasons) -> None:
    values = revenue.to_numpy(dtype="float64", na_value=np.nan)
    reasons.tag(np.isnan(values), UNPARSEABLE_REVENUE)
    reasons.tag(values <= 0, NON_POSITIVE_REVENUE)
    reasons.tag(values > max_purchase_usd(), IMPLAUSIBLE_REVENUE)


def later_duplicates(frame: pd.DataFrame, key: list[str], cheap_part: pd.DataFrame) -> np.ndarray:
    """Rows equal on ``key`` to an earlier row (input order).

    ``cheap_part`` (numeric columns of the key) is compared first: only rows sharing it can be
    duplicates, and hashing numbers is several times cheaper than hashing millions of strings.
    """
    maybe = cheap_part.duplicated(keep=False).to_numpy()
    duplicated = np.zeros(len(frame), dtype=bool)
    duplicated[maybe] = frame.loc[maybe, key].duplicated(keep="first").to_numpy()
    return duplicated


def _typed_purchases(raw: pd.DataFrame) -> pd.DataFrame:
    """The columns both purchase sources share, typed."""
    return pd.DataFrame(
        {
            SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
            "appsflyer_id": raw["appsflyer_id"].astype("str").str.strip(),
            "event_time_utc": parse_utc_times(raw["event_time_utc"]),
            "revenue_usd": parse_amount(raw["revenue_usd"]),
            "receipt_id": raw["receipt_id"].astype("str").str.strip(),
        }
    )


def chargeback_receipts(raw_purchases: pd.DataFrame) -> pd.DataFrame:
    """Receipt ids of every AppsFlyer row whose status is ``chargeback``, taken before any filtering."""
    status = normalise_token(raw_purchases["status"])
    receipts = raw_purchases.loc[status == "chargeback", "receipt_id"].astype("str").str.strip()
    receipts = receipts[receipts != ""].drop_duplicates()
    return pd.DataFrame({"receipt_id": receipts.to_numpy()}).astype({"receipt_id": "str"})


def normalise_purchases(raw: pd.DataFrame) -> pd.DataFrame:
    """AppsFlyer purchases typed and tagged: success status, purchase event, revenue > 0, valid time."""
    frame = _typed_purchases(raw).assign(
        event_name=normalise_token(raw["event_name"]),
        campaign=normalise_campaign(raw["campaign"]),
    )
    success = per_unique(raw["status"], lambda unique: unique.str.strip().str.lower() == "success")
    reasons = DropReasons(len(frame))
    reasons.tag(~success.to_numpy(dtype=bool), STATUS_NOT_SUCCESS)
    reasons.tag(~frame["event_name"].isin(PURCHASE_EVENTS).to_numpy(), NOT_PURCHASE_EVENT)
    _amount_reasons(frame["revenue_usd"], reasons)
    reasons.tag(frame["event_time_utc"].isna().to_numpy(), UNPARSEABLE_TIME)
    return reasons.attach(frame)


def normalise_confirmed(raw: pd.DataFrame) -> pd.DataFrame:
    """Gateway purchases typed and tagged: revenue > 0, valid time, exact duplicates after the first."""
    frame = _typed_purchases(raw)
    reasons = DropReasons(len(frame))
    _amount_reasons(frame["revenue_usd"], reasons)
    reasons.tag(frame["event_time_utc"].isna().to_numpy(), UNPARSEABLE_TIME)
    # Duplicates are judged among otherwise valid rows, the first in input order kept.
    valid = reasons.kept
    duplicated = np.zeros(len(frame), dtype=bool)
    candidates = frame.loc[valid]
    duplicated[valid] = later_duplicates(
        candidates,
        ["appsflyer_id", "event_time_utc", "revenue_usd", "receipt_id"],
        candidates[["event_time_utc", "revenue_usd"]],
    )
    reasons.tag(duplicated, DUPLICATE_ROW)
    return reasons.attach(frame)


def normalise_costs(raw: pd.DataFrame) -> pd.DataFrame:
    """Daily cost rows typed and tagged: parseable date, parseable non-negative cost."""
    frame = pd.DataFrame(
        {
            SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
            "date": parse_dates(raw["date"]),
            "campaign": normalise_campaign(raw["campaign"]),
            "ad_cost_usd": parse_amount(raw["ad_cost_usd"]),
        }
    )
    cost = frame["ad_cost_usd"].to_numpy(dtype="float64", na_value=np.nan)
    reasons = DropReasons(len(frame))
    reasons.tag(frame["date"].isna().to_numpy(), UNPARSEABLE_DATE)
    reasons.tag(np.isnan(cost), UNPARSEABLE_COST)
    reasons.tag(cost < 0, NEGATIVE_COST)
    return reasons.attach(frame)


def normalise_sessions(raw: pd.DataFrame) -> pd.DataFrame:
    """Sessions with their UTC activity day: the day of ``event_timestamp_utc``, else ``date``."""
    from_timestamp = parse_utc_times(raw["event_timestamp_utc"]).dt.floor("D")
    day = from_timestamp.fillna(parse_dates(raw["date"]))
    frame = pd.DataFrame(
        {
            SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
            "user_id": raw["user_id"].astype("str").str.strip(),
            "date": day,
        }
    )
    reasons = DropReasons(len(frame))
    reasons.tag((frame["user_id"] == "").to_numpy(), MISSING_USER_ID)
    reasons.tag(frame["date"].isna().to_numpy(), UNPARSEABLE_TIME)
    return reasons.attach(frame)


def split_dropped(
    frame: pd.DataFrame, source: str, keep_zero: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kept rows (without the tag column) and the drop counts ``source, reason, rows`` in rule order.

    ``keep_zero`` lists every rule, also those that dropped nothing (so shards' counts combine in
    rule order).
    """
    dropped = frame[DROP_REASON].notna().to_numpy()
    counts = frame.loc[dropped, DROP_REASON].value_counts(sort=False)
    if not keep_zero:
        counts = counts[counts > 0]
    drops = pd.DataFrame(
        {
            "source": pd.Series([source] * len(counts), dtype="str"),
            "reason": pd.Series(counts.index.to_numpy(), dtype="str"),
            "rows": counts.to_numpy(dtype="int64"),
        }
    )
    kept = frame.loc[~dropped].drop(columns=DROP_REASON).reset_index(drop=True)
    return kept, drops
