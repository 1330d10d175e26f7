"""Synthetic costs and sessions that fit the generated purchases (anomalies and edge cases included)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from revenue.synth_format import format_amounts, format_campaigns

DAY = 86400


def costs_frame(
    rng: np.random.Generator,
    af: dict[str, Any],
    charged: np.ndarray,
    names: np.ndarray,
    start: int,
    days: int,
) -> pd.DataFrame:
    """Daily cost per campaign around a per-campaign target ROAS.

    On the last day the first campaign's cost triples (warning), the second's grows sixfold
    (critical); the last named campaign has no cost rows at all and the one before it only
    starts spending two days before the end (insufficient history). Some days are split into
    two rows (summed by the pipeline) and one row costs 0 (ROAS null).
    """
    campaigns = len(names) - 1  # the last name is "" (organic): never has cost
    day = (af["time"] - start) // DAY
    revenue = np.where(charged, 0.0, af["revenue"])
    frame = pd.DataFrame({"day": day, "campaign": af["campaign"], "revenue": revenue})
    by_day = frame[frame["day"].between(0, days - 1)].groupby(["day", "campaign"])["revenue"].sum()
    target = rng.uniform(0.8, 2.0, campaigns)
    rows = []
    for c in range(campaigns - 1):
        first_day = days - 3 if c == campaigns - 2 else 0
        for d in range(first_day, days):
            cost = by_day.get((d, c), 0.0) / target[c] * rng.uniform(0.85, 1.15) + 5.0
            if d == days - 1 and c in (0, 1):
                cost *= 3.0 if c == 0 else 6.0
            rows.append((d, c, round(cost, 2)))
    table = pd.DataFrame(rows, columns=["day", "campaign", "cost"])
    split = rng.random(len(table)) < 0.1
    halves = table[split].assign(cost=lambda t: (t["cost"] / 2).round(2))
    table = pd.concat([table[~split], halves, halves], ignore_index=True)
    table.loc[table.sample(1, random_state=int(rng.integers(1 << 30))).index, "cost"] = 0.0
    dates = pd.to_datetime(start + table["day"].to_numpy() * DAY, unit="s").strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "date": dates,
            "campaign": format_campaigns(rng, names[table["campaign"].to_numpy()]),
            "ad_cost_usd": format_amounts(rng, table["cost"].to_numpy()),
        }
    ).sample(frac=1.0, random_state=int(rng.integers(1 << 30)), ignore_index=True)


def sessions_frame(
    rng: np.random.Generator, af: dict[str, Any], n_users: int, start: int, days: int
) -> pd.DataFrame:
    """Sessions of purchasers (on their purchase days and others) and of users who never buy.

    A fifth have no event_timestamp_utc (the date column counts then); some sessions just
    after midnight carry the previous day in ``date`` (the timestamp wins).
    """
    buyer_times = af["time"] + rng.integers(-3600, 3600, len(af["time"]))
    buyers = af["user"]
    n_other = len(buyers) // 2
    other_users = rng.integers(0, n_users, n_other)
    never_buy = rng.integers(n_users, n_users + max(10, n_users // 5), n_other // 2)
    users = np.concatenate([buyers, other_users, never_buy])
    times = np.concatenate([buyer_times, rng.integers(start, start + days * DAY, n_other + len(never_buy))])
    times = np.clip(times, start, start + days * DAY - 1)
    stamp = pd.Series(np.datetime_as_string(times.astype("datetime64[s]"), unit="s").astype(object) + "Z")
    date = pd.Series(np.datetime_as_string(times.astype("datetime64[s]"), unit="D").astype(object))
    missing = rng.random(len(times)) < 0.2
    stamp[missing] = ""
    after_midnight = (times % DAY < 600) & ~missing
    date[after_midnight] = np.datetime_as_string(
        (times[after_midnight] - DAY).astype("datetime64[s]"), unit="D"
    )
    user_ids = np.where(users < n_users, np.char.mod("af%07d", users), np.char.mod("org%07d", users))
    return pd.DataFrame({"date": date, "user_id": user_ids, "event_timestamp_utc": stamp}).sample(
        frac=1.0,
        random_state=int(rng.integers(1 << 30)),
        ignore_index=True,
    )
