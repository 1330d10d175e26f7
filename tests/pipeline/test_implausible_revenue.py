"""Issue 9: no revenue value can make a run fail by arithmetic (SPEC §5.1 implausible_revenue)."""

import numpy as np
import pytest

from revenue import normalise as n
from revenue.normalise import split_dropped

from .tables import PURCHASE_COLUMNS, raw, raw_purchase
from .test_normalise import CONFIRMED_COLUMNS


@pytest.mark.parametrize("revenue", ["1.7e308", "1e300", "10000.01", "99999"])
def test_implausible_revenue_is_dropped_and_counted(revenue):
    rows = [
        raw_purchase(revenue_usd=revenue),
        raw_purchase(revenue_usd=revenue, receipt_id="r2"),
        raw_purchase(),
    ]
    kept, drops = split_dropped(n.normalise_purchases(raw(rows, PURCHASE_COLUMNS)), "appsflyer")
    assert kept["revenue_usd"].tolist() == [4.99]
    assert dict(zip(drops["reason"], drops["rows"], strict=False)) == {"implausible_revenue": 2}
    assert np.isfinite(kept["revenue_usd"].sum())


def test_confirmed_purchases_follow_the_same_bound():
    rows = [raw_purchase(revenue_usd="1.7e308"), raw_purchase(receipt_id="r3")]
    kept, drops = split_dropped(n.normalise_confirmed(raw(rows, CONFIRMED_COLUMNS)), "confirmed")
    assert len(kept) == 1 and dict(zip(drops["reason"], drops["rows"], strict=False)) == {
        "implausible_revenue": 1
    }


def test_the_bound_is_max_purchase_usd(monkeypatch):
    monkeypatch.setenv("MAX_PURCHASE_USD", "50")
    kept, drops = split_dropped(
        n.normalise_purchases(raw([raw_purchase(revenue_usd="60")], PURCHASE_COLUMNS)), "appsflyer"
    )
    assert kept.empty and drops["reason"].tolist() == ["implausible_revenue"]
