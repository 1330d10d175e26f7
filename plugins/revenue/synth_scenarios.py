"""Purchase scenarios for the synthetic generator, each with its reconciliation known by construction.

Every scenario of one user sits in its own two-hour slot, its rows within [anchor - 11 min,
anchor + 25 min] and the anchor 30–60 min into the slot (cross-midnight ones at 1 h 58 min),
so no candidate pair can ever span two scenarios: the expected one-to-one assignment of the
whole data set is the union of the per-scenario answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

PRICES = np.array([0.99, 1.99, 4.99, 9.99, 19.99, 49.99, 99.99, 1234.56])
PRICE_WEIGHTS = np.array([0.25, 0.2, 0.2, 0.15, 0.1, 0.05, 0.04, 0.01])
SLOT_SECONDS = 2 * 3600
TOLERANCE = 600

# Bulk kinds (vectorised) with their share of scenarios; the rest are contested structures.
BULK_KINDS = ("match", "match_cent", "match_mismatch", "af_only", "confirmed_only", "outside")
BULK_WEIGHTS = np.array([0.70, 0.03, 0.04, 0.08, 0.06, 0.04])
SPECIAL_KINDS = (
    "nearest_to_two",
    "chain",
    "tie_revenue",
    "tie_af_time",
    "tie_confirmed_time",
    "tie_af_input_order",
    "tie_confirmed_input_order",
    "cross_midnight",
    "chargeback",
    "exact_window",
)


@dataclass
class Rows:
    """Column lists of one source; ``record`` groups exact duplicates under one logical record."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    size: int = 0

    def add(self, **values: np.ndarray | list[Any]) -> np.ndarray:
        n = len(next(iter(values.values())))
        for key, value in values.items():
            self.columns.setdefault(key, []).append(np.asarray(value))
        self.size += n
        return np.arange(self.size - n, self.size)

    def concat(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate(chunks) for key, chunks in self.columns.items()}


@dataclass
class Truth:
    """Expected reconciliation in generation row numbers (records resolved to file rows later)."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    af_only: list[int] = field(default_factory=list)
    confirmed_only: list[int] = field(default_factory=list)
    # (confirmed row, [af rows]) / (af row, [confirmed rows]): a tie down to input order, the
    # row earliest in the file wins and the others stay unmatched.
    af_ties: list[tuple[int, list[int]]] = field(default_factory=list)
    confirmed_ties: list[tuple[int, list[int]]] = field(default_factory=list)
    mismatches: int = 0
    chargebacked: list[int] = field(default_factory=list)


SLOTS_PER_DAY = 86400 // SLOT_SECONDS


def distinct_slots(
    rng: np.random.Generator, users: np.ndarray, days: int, slot_of_day: np.ndarray
) -> np.ndarray:
    """A slot (day * SLOTS_PER_DAY + slot of day) per scenario, distinct within each user.

    Collisions are redrawn on the day only, so a scenario keeps its slot of day.
    """
    day = rng.integers(0, days, len(users))
    for _ in range(200):
        slots = day * SLOTS_PER_DAY + slot_of_day
        _, first = np.unique(users.astype(np.int64) * (days * SLOTS_PER_DAY) + slots, return_index=True)
        clash = np.ones(len(users), dtype=bool)
        clash[first] = False
        if not clash.any():
            return np.asarray(slots)
        day[clash] = rng.integers(0, days, int(clash.sum()))
    raise RuntimeError("too many scenarios per user for the date range; use more users or days")


def add_bulk(
    rng: np.random.Generator,
    af: Rows,
    conf: Rows,
    truth: Truth,
    users: np.ndarray,
    anchors: np.ndarray,
    campaigns: np.ndarray,
    kinds: np.ndarray,
) -> None:
    """The common scenarios, vectorised: plain matches, cent/mismatch revenue, lonely rows, just outside."""
    n = len(users)
    price = rng.choice(PRICES, n, p=PRICE_WEIGHTS)
    offset = rng.integers(-TOLERANCE, TOLERANCE + 1, n)
    has_af = kinds != "confirmed_only"
    has_conf = kinds != "af_only"
    offset = np.where(kinds == "outside", rng.choice([-1, 1], n) * (TOLERANCE + 1), offset)
    conf_price = np.where(kinds == "match_cent", np.round(price + 0.01, 2), price)
    conf_price = np.where(
        kinds == "match_mismatch", np.round(price + rng.choice([0.02, 0.5, -0.5], n), 2), conf_price
    )
    conf_price = np.where(conf_price <= 0, price + 1, conf_price)
    events = rng.choice(np.array(["af_purchase", "purchase"]), n, p=[0.8, 0.2])
    af_rows = af.add(
        user=users[has_af],
        time=anchors[has_af],
        revenue=price[has_af],
        campaign=campaigns[has_af],
        event=events[has_af],
    )
    conf_rows = conf.add(
        user=users[has_conf], time=anchors[has_conf] + offset[has_conf], revenue=conf_price[has_conf]
    )
    af_of = np.full(n, -1)
    conf_of = np.full(n, -1)
    af_of[has_af] = af_rows
    conf_of[has_conf] = conf_rows
    matched = has_af & has_conf & (kinds != "outside")
    truth.pairs.extend(zip(af_of[matched].tolist(), conf_of[matched].tolist(), strict=True))
    truth.af_only.extend(af_of[has_af & ~matched].tolist())
    truth.confirmed_only.extend(conf_of[has_conf & ~matched].tolist())
    truth.mismatches += int((kinds == "match_mismatch").sum())


def add_special(
    rng: np.random.Generator,
    af: Rows,
    conf: Rows,
    truth: Truth,
    kind: str,
    user: int,
    anchor: int,
    campaign: int,
) -> None:
    """One contested structure whose correct assignment follows from the SPEC's order by hand."""
    price = float(rng.choice(PRICES[:5]))

    def a(dt: int, revenue: float = price, event: str = "af_purchase") -> int:
        return int(
            af.add(user=[user], time=[anchor + dt], revenue=[revenue], campaign=[campaign], event=[event])[0]
        )

    def c(dt: int, revenue: float = price) -> int:
        return int(conf.add(user=[user], time=[anchor + dt], revenue=[revenue])[0])

    if kind == "nearest_to_two":  # C is nearest to both A1 (3 min) and A2 (5 min): A1 wins it
        a1, a2, c1 = a(0), a(480), c(180)
        truth.pairs.append((a1, c1))
        truth.af_only.append(a2)
    elif kind == "chain":  # A2 loses C1 to A1 (3 < 5 min) and falls back to C2 (9 min)
        a1, a2, c1, c2 = a(0), a(480), c(180), c(1020)
        truth.pairs += [(a1, c1), (a2, c2)]
    elif kind == "tie_revenue":  # same |Δt|, C2 has the closer revenue
        a1, c1, c2 = a(0), c(-120, price + 1.0), c(120, price)
        truth.pairs.append((a1, c2))
        truth.confirmed_only.append(c1)
    elif kind == "tie_af_time":  # same |Δt| and revenue, the earlier AppsFlyer row wins
        a1, a2, c1 = a(-120), a(120), c(0)
        truth.pairs.append((a1, c1))
        truth.af_only.append(a2)
    elif kind == "tie_confirmed_time":  # same |Δt| and revenue, the earlier confirmed row wins
        a1, c1, c2 = a(0), c(-120), c(120)
        truth.pairs.append((a1, c1))
        truth.confirmed_only.append(c2)
    elif kind == "tie_af_input_order":  # equal but for event name (so not duplicates): file order
        a1, a2, c1 = a(0, event="af_purchase"), a(0, event="purchase"), c(60)
        truth.af_ties.append((c1, [a1, a2]))
    elif kind == "tie_confirmed_input_order":  # equal but for receipt: file order
        a1, c1, c2 = a(0), c(60), c(60)
        truth.confirmed_ties.append((a1, [c1, c2]))
    elif kind == "cross_midnight":  # anchor at 23:58, confirmed 5 min later on the next day
        a1, c1 = a(0), c(300)
        truth.pairs.append((a1, c1))
    elif kind == "chargeback":  # matched by original revenue; the chargeback row itself is dropped
        a1, c1 = a(0), c(240)
        truth.pairs.append((a1, c1))
        truth.chargebacked.append(a1)
    elif kind == "exact_window":  # exactly 10:00 apart is inside, 10:01 is outside
        a1, c1, a2, c2 = a(0), c(TOLERANCE), a(1500), c(1500 - TOLERANCE - 1)
        truth.pairs.append((a1, c1))
        truth.af_only.append(a2)
        truth.confirmed_only.append(c2)
    else:  # pragma: no cover - the kinds are a closed list
        raise ValueError(kind)
