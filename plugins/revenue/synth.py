"""Synthetic inputs with ground truth: ``python -m revenue.synth --rows N --seed S --out DIR``.

Writes the four CSVs of SPEC §5 and ``ground_truth.json``: which purchases_raw.csv row
(0-based data row) matches which confirmed_purchases.csv row, the expected counts per
category, and the expected drops per source and reason. Every dirty case of the SPEC is in
it (see synth_scenarios for the contested matching structures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from revenue import synth_scenarios as sc
from revenue.synth_extras import costs_frame, sessions_frame
from revenue.synth_format import format_amounts, format_campaigns, format_times, pick

END_DATE = dt.date(2025, 11, 10)
DIRTY_AF = {
    "status_not_success": ("status", ["failed", "pending", "Refunded", " cancelled "]),
    "not_purchase_event": ("event", ["af_login", "af_level_up", "install", "af_tutorial_completion"]),
    "unparseable_revenue": ("revenue", ["abc", "", "N/A", "$$"]),
    "non_positive_revenue": ("revenue", ["0", "-1.99", "0,00", "-4,99"]),
    "unparseable_time": ("time", ["not a time", "2025-13-45 10:00:00", "", "yesterday"]),
}
DIRTY_CONFIRMED = {
    key: DIRTY_AF[key] for key in ("unparseable_revenue", "non_positive_revenue", "unparseable_time")
}


def campaign_names(count: int) -> list[str]:
    themes = [
        "summer sale",
        "winter push",
        "brand search",
        "retarget lapsed",
        "tiktok ugc",
        "meta lookalike",
        "google uac",
        "influencer wave",
        "holiday bundle",
        "pvp launch",
    ]
    return [f"{themes[i % len(themes)]} {i // len(themes) + 1}".upper() for i in range(count)]


def generate(
    rows: int, seed: int, days: int = 30, campaigns: int = 12, end: dt.date = END_DATE
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The four input frames (all text) and the ground truth, for about ``rows`` AppsFlyer rows."""
    rng = np.random.default_rng(seed)
    start = int(pd.Timestamp(end - dt.timedelta(days=days - 1), tz="UTC").timestamp())
    names = np.array(campaign_names(campaigns) + [""])  # "" = organic purchase (no campaign)
    n_users = max(60, rows // 3)
    user_campaign = rng.choice(len(names), n_users, p=_campaign_weights(len(names)))

    n_special = max(3 * len(sc.SPECIAL_KINDS), rows // 40)
    n_dirty, n_dups = max(len(DIRTY_AF) * 2, rows // 16), max(4, rows // 50)
    n_bulk = max(20, int((rows - n_dirty - n_dups - 2 * n_special) / 0.92))
    kinds = np.concatenate(
        [
            rng.choice(np.array(sc.BULK_KINDS), n_bulk, p=sc.BULK_WEIGHTS / sc.BULK_WEIGHTS.sum()),
            np.resize(np.array(sc.SPECIAL_KINDS), n_special),
        ]
    )
    users = rng.integers(0, n_users, len(kinds))
    cross_midnight = kinds == "cross_midnight"
    slot_of_day = np.where(
        cross_midnight, sc.SLOTS_PER_DAY - 1, rng.integers(0, sc.SLOTS_PER_DAY, len(kinds))
    )
    slots = sc.distinct_slots(rng, users, days, slot_of_day)
    anchors = (
        start
        + slots * sc.SLOT_SECONDS
        + np.where(
            cross_midnight,
            sc.SLOT_SECONDS - 120,
            rng.integers(1800, 3600, len(kinds)),
        )
    )

    af, conf, truth = sc.Rows(), sc.Rows(), sc.Truth()
    bulk = slice(0, n_bulk)
    sc.add_bulk(rng, af, conf, truth, users[bulk], anchors[bulk], user_campaign[users[bulk]], kinds[bulk])
    for kind, user, anchor in zip(kinds[n_bulk:], users[n_bulk:], anchors[n_bulk:], strict=True):
        sc.add_special(rng, af, conf, truth, str(kind), int(user), int(anchor), int(user_campaign[user]))
    af_cols, conf_cols = af.concat(), conf.concat()
    return _assemble(rng, af_cols, conf_cols, truth, names, n_users, start, days, n_dirty, n_dups, seed, rows)


def _campaign_weights(count: int) -> np.ndarray:
    weights = np.linspace(2.0, 0.5, count)
    weights[-1] = 1.0  # organic
    return np.asarray(weights / weights.sum())


def _assemble(
    rng: np.random.Generator,
    af: dict[str, np.ndarray],
    conf: dict[str, np.ndarray],
    truth: sc.Truth,
    names: np.ndarray,
    n_users: int,
    start: int,
    days: int,
    n_dirty: int,
    n_dups: int,
    seed: int,
    rows: int,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    n_af, n_conf = len(af["user"]), len(conf["user"])
    af_receipt = np.array([f"R{i:08d}" for i in range(n_af)], dtype=object)
    conf_receipt = np.array([f"G{i:08d}" for i in range(n_conf)], dtype=object)
    pair_af = np.array([p[0] for p in truth.pairs], dtype=np.int64)
    pair_conf = np.array([p[1] for p in truth.pairs], dtype=np.int64)
    conf_receipt[pair_conf] = af_receipt[pair_af]  # the gateway echoes the store receipt
    end_time = start + days * 86400

    purchases = pd.DataFrame(
        {
            "appsflyer_id": [f"af{u:07d}" for u in af["user"]],
            "event_time_utc": format_times(rng, af["time"]),
            "event_name": af["event"],
            "revenue_usd": format_amounts(rng, af["revenue"]),
            "campaign": format_campaigns(rng, names[af["campaign"]]),
            "receipt_id": af_receipt,
            "status": pick(rng, ["success", "Success", " SUCCESS "], n_af, p=[0.8, 0.1, 0.1]),
        }
    )
    confirmed = pd.DataFrame(
        {
            "appsflyer_id": [f"af{u:07d}" for u in conf["user"]],
            "event_time_utc": format_times(rng, conf["time"]),
            "revenue_usd": format_amounts(rng, conf["revenue"]),
            "receipt_id": conf_receipt,
        }
    )
    # Clean rows keep generation numbers 0..n-1; duplicates and dirty rows are appended.
    af_record = list(range(n_af))
    conf_record = list(range(n_conf))
    drops: dict[str, dict[str, int]] = {"purchases": {}, "confirmed": {}}

    dup_af = rng.choice(pair_af if len(pair_af) else np.arange(n_af), n_dups, replace=False)
    copies = purchases.iloc[dup_af].copy()
    copies["revenue_usd"] = format_amounts(rng, af["revenue"][dup_af])  # same value, maybe other notation
    copies["event_time_utc"] = format_times(rng, af["time"][dup_af])
    purchases = pd.concat([purchases, copies], ignore_index=True)
    af_record += dup_af.tolist()
    drops["purchases"]["duplicate_purchase"] = len(dup_af)

    chargeback_rows = purchases.iloc[truth.chargebacked].copy()
    chargeback_rows["status"] = pick(rng, ["chargeback", " Chargeback", "CHARGEBACK"], len(chargeback_rows))
    chargeback_rows["event_time_utc"] = format_times(rng, af["time"][truth.chargebacked] + 86400)
    purchases = pd.concat([purchases, chargeback_rows], ignore_index=True)
    af_record += [-1] * len(chargeback_rows)
    drops["purchases"]["status_not_success"] = len(chargeback_rows)

    dup_conf = rng.choice(
        pair_conf if len(pair_conf) else np.arange(n_conf), max(2, n_dups // 2), replace=False
    )
    conf_copies = confirmed.iloc[dup_conf].copy()
    conf_copies["revenue_usd"] = format_amounts(rng, conf["revenue"][dup_conf])
    conf_copies["event_time_utc"] = format_times(rng, conf["time"][dup_conf])
    confirmed = pd.concat([confirmed, conf_copies], ignore_index=True)
    conf_record += dup_conf.tolist()
    drops["confirmed"]["duplicate_row"] = len(dup_conf)

    purchases = _append_dirty(
        rng, purchases, DIRTY_AF, n_dirty, n_users, start, end_time, names, drops["purchases"]
    )
    af_record += [-1] * (len(purchases) - len(af_record))
    confirmed = _append_dirty(
        rng,
        confirmed,
        DIRTY_CONFIRMED,
        max(6, n_dirty // 3),
        n_users,
        start,
        end_time,
        names,
        drops["confirmed"],
    )
    conf_record += [-1] * (len(confirmed) - len(conf_record))

    purchases, af_file_row = _shuffle(rng, purchases, np.array(af_record))
    confirmed, conf_file_row = _shuffle(rng, confirmed, np.array(conf_record))
    truth_json = _truth_json(truth, af_file_row, conf_file_row, drops, seed, rows)
    charged = np.zeros(n_af, dtype=bool)
    charged[truth.chargebacked] = True
    costs = costs_frame(rng, af, charged, names, start, days)
    sessions = sessions_frame(rng, af, n_users, start, days)
    return {"purchases": purchases, "confirmed": confirmed, "costs": costs, "sessions": sessions}, truth_json


def _append_dirty(
    rng: np.random.Generator,
    frame: pd.DataFrame,
    rules: dict[str, tuple[str, list[str]]],
    count: int,
    n_users: int,
    start: int,
    end_time: int,
    names: np.ndarray,
    drop_counts: dict[str, int],
) -> pd.DataFrame:
    """Rows that each break exactly one rule, at random users and times."""
    per_rule = max(2, count // len(rules))
    extra = []
    for reason, (column, values) in rules.items():
        n = per_rule
        base = {
            "appsflyer_id": [f"af{u:07d}" for u in rng.integers(0, n_users, n)],
            "event_time_utc": format_times(rng, rng.integers(start, end_time, n)),
            "revenue_usd": format_amounts(rng, rng.choice(sc.PRICES[:5], n)),
            "receipt_id": [f"X{reason[:3]}{i:07d}{len(frame)}" for i in range(n)],
        }
        if "campaign" in frame.columns:
            base |= {
                "event_name": ["af_purchase"] * n,
                "campaign": format_campaigns(rng, rng.choice(names, n)),
                "status": ["success"] * n,
            }
        target = {
            "status": "status",
            "event": "event_name",
            "revenue": "revenue_usd",
            "time": "event_time_utc",
        }[column]
        base[target] = pick(rng, values, n)
        extra.append(pd.DataFrame(base)[list(frame.columns)])
        drop_counts[reason] = drop_counts.get(reason, 0) + n
    return pd.concat([frame, *extra], ignore_index=True)


def _shuffle(
    rng: np.random.Generator, frame: pd.DataFrame, record: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Shuffle rows; return the frame and, per logical record, its first row in the file."""
    order = rng.permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    file_row_of = np.empty(len(frame), dtype=np.int64)
    file_row_of[order] = np.arange(len(frame))
    clean = record >= 0
    first = np.full(int(record.max()) + 1 if clean.any() else 0, np.iinfo(np.int64).max)
    np.minimum.at(first, record[clean], file_row_of[clean])
    return shuffled, first


def _truth_json(
    truth: sc.Truth, af_row: np.ndarray, conf_row: np.ndarray, drops: dict[str, Any], seed: int, rows: int
) -> dict[str, Any]:
    pairs = [(int(af_row[a]), int(conf_row[c])) for a, c in truth.pairs]
    af_only = [int(af_row[a]) for a in truth.af_only]
    confirmed_only = [int(conf_row[c]) for c in truth.confirmed_only]
    for c, candidates in truth.af_ties:
        winner, *losers = sorted(int(af_row[a]) for a in candidates)
        pairs.append((winner, int(conf_row[c])))
        af_only += losers
    for a, candidates in truth.confirmed_ties:
        winner, *losers = sorted(int(conf_row[c]) for c in candidates)
        pairs.append((int(af_row[a]), winner))
        confirmed_only += losers
    return {
        "seed": seed,
        "rows": rows,
        "toleranceMinutes": 10,
        "expected": {
            "matched": len(pairs),
            "af_only": len(af_only),
            "confirmed_only": len(confirmed_only),
            "revenueMismatches": truth.mismatches,
            "chargebacks": len(truth.chargebacked),
        },
        "pairs": [list(pair) for pair in sorted(pairs)],
        "af_only": sorted(af_only),
        "confirmed_only": sorted(confirmed_only),
        "drops": drops,
    }


def write_dataset(out: str | Path, frames: dict[str, pd.DataFrame], truth: dict[str, Any]) -> None:
    from revenue.io import INPUT_FILES, write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for source, filename in INPUT_FILES.items():
        write_csv(out / filename, frames[source])
    (out / "ground_truth.json").write_text(json.dumps(truth) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m revenue.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="about this many purchases_raw.csv rows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--campaigns", type=int, default=12)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    frames, truth = generate(args.rows, args.seed, args.days, args.campaigns)
    write_dataset(args.out, frames, truth)
    print(
        json.dumps({"out": args.out, **{k: len(v) for k, v in frames.items()}, "expected": truth["expected"]})
    )


if __name__ == "__main__":
    main()
