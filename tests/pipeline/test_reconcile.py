import itertools

import numpy as np
import pandas as pd
import pytest

from revenue.reconcile import reconcile, summarise

from .tables import confirmed, curated


def pairs(af: pd.DataFrame, conf: pd.DataFrame, tolerance: float = 10) -> set[tuple[int, int]]:
    detail = reconcile(af, conf, tolerance)
    matched = detail[detail["category"] == "matched"]
    return set(
        zip(matched["af_source_row"].astype(int), matched["confirmed_source_row"].astype(int), strict=False)
    )


def af_at(*times: str, revenue: float = 4.99, user: str = "u1") -> list[dict]:
    return [{"appsflyer_id": user, "event_time_utc": t, "revenue_usd": revenue} for t in times]


def conf_at(*times: str, revenue: float = 4.99, user: str = "u1") -> list[dict]:
    return [{"appsflyer_id": user, "event_time_utc": t, "revenue_usd": revenue} for t in times]


def test_window_is_inclusive_at_exactly_ten_minutes():
    assert pairs(curated(af_at("2025-11-10 10:00:00")), confirmed(conf_at("2025-11-10 10:10:00"))) == {(0, 0)}
    assert pairs(curated(af_at("2025-11-10 10:10:00")), confirmed(conf_at("2025-11-10 10:00:00"))) == {(0, 0)}


def test_ten_minutes_and_one_second_is_outside():
    detail = reconcile(curated(af_at("2025-11-10 10:00:00")), confirmed(conf_at("2025-11-10 10:10:01")))
    assert sorted(detail["category"]) == ["af_only", "confirmed_only"]
    detail = reconcile(curated(af_at("2025-11-10 10:00:00")), confirmed(conf_at("2025-11-10 09:49:59")))
    assert sorted(detail["category"]) == ["af_only", "confirmed_only"]


def test_tolerance_is_configurable():
    af, conf = curated(af_at("2025-11-10 10:00:00")), confirmed(conf_at("2025-11-10 10:04:00"))
    assert pairs(af, conf, tolerance=3) == set()
    assert pairs(af, conf, tolerance=4) == {(0, 0)}


def test_different_users_never_match():
    assert (
        pairs(curated(af_at("2025-11-10 10:00:00")), confirmed(conf_at("2025-11-10 10:00:00", user="u2")))
        == set()
    )


def test_one_to_one_when_one_confirmed_is_nearest_to_two_af_rows():
    af = curated(af_at("2025-11-10 10:00:00", "2025-11-10 10:08:00"))
    conf = confirmed(conf_at("2025-11-10 10:03:00"))
    detail = reconcile(af, conf)
    assert pairs(af, conf) == {(0, 0)}
    assert summarise(detail)["af_only"]["count"] == 1


def test_loser_of_a_contest_falls_back_to_its_next_candidate():
    af = curated(af_at("2025-11-10 10:00:00", "2025-11-10 10:08:00"))
    conf = confirmed(conf_at("2025-11-10 10:03:00", "2025-11-10 10:17:00"))
    assert pairs(af, conf) == {(0, 0), (1, 1)}


def test_tie_on_time_goes_to_the_smaller_revenue_difference():
    af = curated(af_at("2025-11-10 10:00:00"))
    conf = confirmed(conf_at("2025-11-10 09:58:00", revenue=5.99) + conf_at("2025-11-10 10:02:00"))
    assert pairs(af, conf) == {(0, 1)}


def test_tie_on_time_and_revenue_goes_to_the_earlier_af_time():
    af = curated(af_at("2025-11-10 10:02:00", "2025-11-10 09:58:00"))
    conf = confirmed(conf_at("2025-11-10 10:00:00"))
    assert pairs(af, conf) == {(1, 0)}


def test_then_to_the_earlier_confirmed_time():
    af = curated(af_at("2025-11-10 10:00:00"))
    conf = confirmed(conf_at("2025-11-10 10:02:00", "2025-11-10 09:58:00"))
    assert pairs(af, conf) == {(0, 1)}


def test_then_to_input_order_on_the_af_side():
    af = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:00:00",
                "revenue_usd": 4.99,
                "source_row": 7,
            },
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:00:00",
                "revenue_usd": 4.99,
                "source_row": 3,
                "event_name": "purchase",
            },
        ]
    )
    assert pairs(af, confirmed(conf_at("2025-11-10 10:01:00"))) == {(3, 0)}


def test_then_to_input_order_on_the_confirmed_side():
    conf = confirmed(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:01:00",
                "revenue_usd": 4.99,
                "source_row": 5,
            },
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:01:00",
                "revenue_usd": 4.99,
                "source_row": 2,
            },
        ]
    )
    assert pairs(curated(af_at("2025-11-10 10:00:00")), conf) == {(0, 2)}


def test_smaller_time_difference_beats_smaller_revenue_difference():
    af = curated(af_at("2025-11-10 10:00:00"))
    conf = confirmed(conf_at("2025-11-10 10:01:00", revenue=9.99) + conf_at("2025-11-10 10:05:00"))
    assert pairs(af, conf) == {(0, 0)}


def test_matches_across_midnight():
    af = curated(af_at("2025-11-10 23:58:00"))
    conf = confirmed(conf_at("2025-11-11T00:03:00+00:00"))
    assert pairs(af, conf) == {(0, 0)}


def test_chargebacked_purchase_is_compared_by_original_revenue():
    af = curated(
        [
            {
                "appsflyer_id": "u1",
                "event_time_utc": "2025-11-10 10:00:00",
                "revenue_usd": 4.99,
                "chargeback": True,
            }
        ]
    )
    detail = reconcile(af, confirmed(conf_at("2025-11-10 10:01:00")))
    row = detail.iloc[0]
    assert row["category"] == "matched" and row["chargeback"]
    assert row["af_revenue_usd"] == 4.99 and not row["revenue_mismatch"]


def test_revenue_mismatch_counts_only_differences_over_one_cent():
    af = curated(af_at("2025-11-10 10:00:00", "2025-11-10 12:00:00", "2025-11-10 14:00:00", revenue=4.98))
    conf = confirmed(
        conf_at("2025-11-10 10:00:00", revenue=4.99)
        + conf_at("2025-11-10 12:00:00", revenue=5.0)
        + conf_at("2025-11-10 14:00:00", revenue=4.98)
    )
    summary = summarise(reconcile(af, conf))
    assert summary["matched"]["count"] == 3
    assert summary["revenueMismatches"] == 1


def test_every_record_appears_once_with_its_category():
    af = curated(af_at("2025-11-10 10:00:00", "2025-11-10 18:00:00"))
    conf = confirmed(conf_at("2025-11-10 10:00:30", "2025-11-10 03:00:00"))
    detail = reconcile(af, conf)
    assert sorted(detail["category"]) == ["af_only", "confirmed_only", "matched"]
    assert sorted(detail["af_source_row"].dropna().astype(int)) == [0, 1]
    assert sorted(detail["confirmed_source_row"].dropna().astype(int)) == [0, 1]
    summary = summarise(detail)
    assert summary["totalAf"] == 2 and summary["totalConfirmed"] == 2


def test_empty_sides():
    af = curated(af_at("2025-11-10 10:00:00"))
    empty_conf = confirmed(conf_at("2025-11-10 10:00:00")).iloc[0:0]
    assert reconcile(af, empty_conf)["category"].tolist() == ["af_only"]
    assert reconcile(af.iloc[0:0], confirmed(conf_at("2025-11-10 10:00:00")))["category"].tolist() == [
        "confirmed_only"
    ]


def greedy_by_definition(af: pd.DataFrame, conf: pd.DataFrame, tolerance_s: int) -> set[tuple[int, int]]:
    """The SPEC's rule read literally: all pairs sorted by the tie-break key, taken greedily."""
    candidates = []
    for a, c in itertools.product(af.itertuples(), conf.itertuples()):
        gap = abs((a.event_time_utc - c.event_time_utc).total_seconds())
        if a.appsflyer_id == c.appsflyer_id and gap <= tolerance_s:
            revenue_gap = abs(round(a.original_revenue_usd * 100) - round(c.revenue_usd * 100))
            candidates.append(
                (gap, revenue_gap, a.event_time_utc, c.event_time_utc, a.source_row, c.source_row)
            )
    taken_af, taken_conf, chosen = set(), set(), set()
    for *_, a, c in sorted(candidates):
        if a not in taken_af and c not in taken_conf:
            taken_af.add(a)
            taken_conf.add(c)
            chosen.add((a, c))
    return chosen


@pytest.mark.parametrize("seed", range(6))
def test_dense_contested_data_matches_the_literal_greedy_rule(seed):
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2025-11-10 23:40:00")

    def rows(n: int) -> list[dict]:
        return [
            {
                "appsflyer_id": str(rng.choice(["u1", "u2", "u3"])),
                "event_time_utc": str(base + pd.Timedelta(seconds=int(rng.integers(0, 40)) * 30)),
                "revenue_usd": float(rng.choice([0.99, 1.99, 2.0])),
                "source_row": int(row),
            }
            for row in rng.permutation(n)
        ]

    af, conf = curated(rows(60)), confirmed(rows(50))
    assert pairs(af, conf) == greedy_by_definition(af, conf, 600)


def test_long_chain_of_contested_pairs_still_matches_the_literal_rule():
    # Alternating AF/confirmed rows whose gaps shrink along the chain: each vectorised round
    # settles only the chain's end, so this also exercises the plain-loop finish.
    base = pd.Timestamp("2025-11-10 00:00:00")
    times, position = [], 0
    for step in range(241):
        times.append(str(base + pd.Timedelta(seconds=position)))
        position += 300 - step
    af = curated(af_at(*times[0::2]))
    conf = confirmed(conf_at(*times[1::2]))
    assert pairs(af, conf) == greedy_by_definition(af, conf, 600)
