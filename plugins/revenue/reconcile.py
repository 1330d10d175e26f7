"""SPEC §5.3: one-to-one reconciliation of curated AppsFlyer purchases with gateway purchases.

The assignment is the greedy one over candidate pairs (same appsflyer_id, |Δt| within the
tolerance) taken in the SPEC's order: smaller |Δt|, smaller revenue difference, earlier
AppsFlyer time, earlier confirmed time, input order. It is computed without a Python loop
over rows: candidates come from a window join (searchsorted on an (id, time-rank) key), and
the greedy pass runs as rounds of "locally dominant" pairs (a pair that is the first
remaining candidate of both its sides is exactly a pair greedy takes; Preis 1999), which on
real data finishes in a handful of vectorised rounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from revenue.io import SOURCE_ROW
from revenue.params import DEFAULT_TOLERANCE_MINUTES

MATCHED, AF_ONLY, CONFIRMED_ONLY = "matched", "af_only", "confirmed_only"
CATEGORIES = (MATCHED, AF_ONLY, CONFIRMED_ONLY)
MISMATCH_MICROS = 10_000  # revenue differing by more than $0.01 (in micro-dollars)
_ROUNDS_BEFORE_LOOP = 64


def micros(times: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 microseconds since the epoch."""
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(naive.to_numpy("datetime64[us]")).view("int64")


def micro_dollars(amounts: pd.Series) -> np.ndarray:
    """Money as int64 micro-dollars, so that revenue differences compare exactly."""
    return np.rint(amounts.to_numpy(dtype="float64") * 1e6).astype("int64")


def window_candidates(
    af_id: np.ndarray,
    af_time: np.ndarray,
    conf_id: np.ndarray,
    conf_time: np.ndarray,
    tolerance: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (af index, confirmed index) with equal id codes and |Δt| <= tolerance.

    Confirmed rows are bucketed by (id, time // width) with width >= tolerance, so an AppsFlyer
    row's candidates lie in one contiguous run of buckets found by searchsorted; the exact
    window is then applied to that small superset.
    """
    if len(af_id) == 0 or len(conf_id) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    origin = min(int(af_time.min()), int(conf_time.min())) - tolerance
    span = max(int(af_time.max()), int(conf_time.max())) + tolerance - origin + 1
    n_ids = int(max(af_id.max(), conf_id.max())) + 1
    # The widest key id * buckets + bucket must stay inside int64.
    width = max(tolerance, 1, -(-span * n_ids // 2**60))
    buckets = span // width + 1
    conf_key = conf_id.astype("int64") * buckets + (conf_time - origin) // width
    conf_order = np.argsort(conf_key, kind="stable")
    conf_key = conf_key[conf_order]
    af_base = af_id.astype("int64") * buckets
    low = np.searchsorted(conf_key, af_base + (af_time - tolerance - origin) // width, "left")
    high = np.searchsorted(conf_key, af_base + (af_time + tolerance - origin) // width, "right")
    counts = high - low
    af_index = np.repeat(np.arange(len(af_id)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts - low, counts)
    conf_index = conf_order[offsets]
    inside = np.abs(af_time[af_index] - conf_time[conf_index]) <= tolerance
    return af_index[inside], conf_index[inside]


def greedy_one_to_one(af_index: np.ndarray, conf_index: np.ndarray, n_af: int, n_conf: int) -> np.ndarray:
    """Mask of the pairs greedy takes when candidates are already sorted in priority order."""
    taken = np.zeros(len(af_index), dtype=bool)
    alive = np.arange(len(af_index))
    af_taken = np.zeros(n_af, dtype=bool)
    conf_taken = np.zeros(n_conf, dtype=bool)
    for _ in range(_ROUNDS_BEFORE_LOOP):
        if len(alive) == 0:
            return taken
        a, c = af_index[alive], conf_index[alive]
        best_af = np.full(n_af, len(af_index), dtype=np.int64)
        best_conf = np.full(n_conf, len(af_index), dtype=np.int64)
        np.minimum.at(best_af, a, alive)
        np.minimum.at(best_conf, c, alive)
        dominant = (best_af[a] == alive) & (best_conf[c] == alive)
        taken[alive[dominant]] = True
        af_taken[a[dominant]] = True
        conf_taken[c[dominant]] = True
        alive = alive[~(af_taken[a] | conf_taken[c])]
    # Long chains of contested pairs are rare; finish them with the plain greedy loop.
    for position in alive.tolist():
        a, c = af_index[position], conf_index[position]
        if not af_taken[a] and not conf_taken[c]:
            taken[position] = af_taken[a] = conf_taken[c] = True
    return taken


def match_pairs(
    af: pd.DataFrame, confirmed: pd.DataFrame, tolerance_minutes: float = DEFAULT_TOLERANCE_MINUTES
) -> tuple[np.ndarray, np.ndarray]:
    """Positional indices (into ``af``, into ``confirmed``) of the matched pairs.

    ``af`` needs appsflyer_id, event_time_utc, original_revenue_usd, source_row;
    ``confirmed`` needs appsflyer_id, event_time_utc, revenue_usd, source_row.
    """
    tolerance = int(round(float(tolerance_minutes) * 60_000_000))
    codes, _ = pd.factorize(pd.concat([af["appsflyer_id"], confirmed["appsflyer_id"]], ignore_index=True))
    af_id, conf_id = codes[: len(af)], codes[len(af) :]
    af_time, conf_time = micros(af["event_time_utc"]), micros(confirmed["event_time_utc"])
    a, c = window_candidates(af_id, af_time, conf_id, conf_time, tolerance)

    # A pair alone on both sides is taken whatever the order; only contested pairs need sorting.
    alone = (np.bincount(a, minlength=len(af))[a] == 1) & (np.bincount(c, minlength=len(confirmed))[c] == 1)
    contested_a, contested_c = a[~alone], c[~alone]
    af_rev, conf_rev = micro_dollars(af["original_revenue_usd"]), micro_dollars(confirmed["revenue_usd"])
    priority = np.lexsort(
        (
            confirmed[SOURCE_ROW].to_numpy()[contested_c],
            af[SOURCE_ROW].to_numpy()[contested_a],
            conf_time[contested_c],
            af_time[contested_a],
            np.abs(af_rev[contested_a] - conf_rev[contested_c]),
            np.abs(af_time[contested_a] - conf_time[contested_c]),
        )
    )
    contested_a, contested_c = contested_a[priority], contested_c[priority]
    taken = greedy_one_to_one(contested_a, contested_c, len(af), len(confirmed))
    return np.concatenate([a[alone], contested_a[taken]]), np.concatenate([c[alone], contested_c[taken]])


DETAIL_COLUMNS = [
    "category",
    "appsflyer_id",
    "af_source_row",
    "confirmed_source_row",
    "af_event_time_utc",
    "confirmed_event_time_utc",
    "time_diff_seconds",
    "af_revenue_usd",
    "confirmed_revenue_usd",
    "revenue_diff_usd",
    "revenue_mismatch",
    "af_receipt_id",
    "confirmed_receipt_id",
    "campaign",
    "chargeback",
]


def _take(frame: pd.DataFrame, columns: list[str], positions: np.ndarray) -> pa.Table:
    """Rows at ``positions`` (-1 = an all-null row), kept in Arrow so strings are never boxed."""
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    return table.take(pa.array(positions, mask=positions < 0))


def reconcile(
    af: pd.DataFrame, confirmed: pd.DataFrame, tolerance_minutes: float = DEFAULT_TOLERANCE_MINUTES
) -> pd.DataFrame:
    """Every AppsFlyer record, then every unmatched confirmed record, with its category and pair.

    ``af`` needs appsflyer_id, event_time_utc, original_revenue_usd, source_row, receipt_id,
    campaign, chargeback; ``confirmed`` needs appsflyer_id, event_time_utc, revenue_usd,
    source_row, receipt_id.
    """
    af = af.reset_index(drop=True)
    confirmed = confirmed.reset_index(drop=True)
    af_pos, conf_pos = match_pairs(af, confirmed, tolerance_minutes)
    partner = np.full(len(af), -1, dtype=np.int64)
    partner[af_pos] = conf_pos
    conf_matched = np.zeros(len(confirmed), dtype=bool)
    conf_matched[conf_pos] = True
    lonely = np.flatnonzero(~conf_matched)

    af_rows = np.concatenate([np.arange(len(af)), np.full(len(lonely), -1)])
    conf_rows = np.concatenate([partner, lonely])
    mine = _take(
        af,
        [
            "appsflyer_id",
            SOURCE_ROW,
            "event_time_utc",
            "original_revenue_usd",
            "receipt_id",
            "campaign",
            "chargeback",
        ],
        af_rows,
    )
    theirs = _take(
        confirmed, ["appsflyer_id", SOURCE_ROW, "event_time_utc", "revenue_usd", "receipt_id"], conf_rows
    )
    codes = np.concatenate([np.where(partner >= 0, 0, 1), np.full(len(lonely), 2)]).astype(np.int8)
    both = codes == 0
    af_micro = micro_dollars(pd.Series(mine.column("original_revenue_usd").to_numpy()).fillna(0))
    conf_micro = micro_dollars(pd.Series(theirs.column("revenue_usd").to_numpy()).fillna(0))
    af_time = mine.column("event_time_utc").cast(pa.int64()).fill_null(0).to_numpy()
    conf_time = theirs.column("event_time_utc").cast(pa.int64()).fill_null(0).to_numpy()
    table = pa.table(
        {
            "appsflyer_id": pc.coalesce(mine.column("appsflyer_id"), theirs.column("appsflyer_id")),
            "af_source_row": mine.column(SOURCE_ROW),
            "confirmed_source_row": theirs.column(SOURCE_ROW),
            "af_event_time_utc": mine.column("event_time_utc"),
            "confirmed_event_time_utc": theirs.column("event_time_utc"),
            "time_diff_seconds": pa.array((af_time - conf_time) / 1e6, mask=~both),
            "af_revenue_usd": mine.column("original_revenue_usd"),
            "confirmed_revenue_usd": theirs.column("revenue_usd"),
            "revenue_diff_usd": pa.array(np.round((af_micro - conf_micro) / 1e6, 6), mask=~both),
            "revenue_mismatch": pa.array(both & (np.abs(af_micro - conf_micro) > MISMATCH_MICROS)),
            "af_receipt_id": mine.column("receipt_id"),
            "confirmed_receipt_id": theirs.column("receipt_id"),
            "campaign": mine.column("campaign"),
            "chargeback": pc.fill_null(mine.column("chargeback"), False),
        }
    )
    detail = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    detail.insert(0, "category", pd.Categorical.from_codes(codes, categories=pd.Index(CATEGORIES)))
    ordered: pd.DataFrame = detail[DETAIL_COLUMNS]
    return ordered


def summarise(detail: pd.DataFrame) -> dict[str, Any]:
    """Counts and revenues per category, plus the revenue mismatch count among matched pairs."""
    summary: dict[str, Any] = {}
    for category in CATEGORIES:
        rows = detail[detail["category"] == category]
        summary[category] = {
            "count": int(len(rows)),
            "afRevenueUsd": round(float(rows["af_revenue_usd"].sum()), 2),
            "confirmedRevenueUsd": round(float(rows["confirmed_revenue_usd"].sum()), 2),
        }
    summary["revenueMismatches"] = int(detail["revenue_mismatch"].sum())
    summary["totalAf"] = summary[MATCHED]["count"] + summary[AF_ONLY]["count"]
    summary["totalConfirmed"] = summary[MATCHED]["count"] + summary[CONFIRMED_ONLY]["count"]
    return summary
