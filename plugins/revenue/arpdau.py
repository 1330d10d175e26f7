"""SPEC §5.5: ARPDAU per campaign on D-1, with ORGANIC and ALL rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from revenue.io import SOURCE_ROW
from revenue.roas import ORGANIC, campaign_label, utc_day

ALL = "ALL"


def user_campaigns(curated: pd.DataFrame) -> pd.DataFrame:
    """Each purchasing user's campaign: the campaign of their earliest curated purchase.

    A purchase without a campaign makes the user ``ORGANIC``, as does having no purchase.
    """
    earliest = curated.sort_values(["event_time_utc", SOURCE_ROW], kind="stable").drop_duplicates(
        "appsflyer_id", keep="first"
    )
    return pd.DataFrame(
        {
            "user_id": earliest["appsflyer_id"].to_numpy(),
            "campaign": campaign_label(earliest["campaign"]).to_numpy(),
        }
    )


def active_user_campaigns(curated: pd.DataFrame, sessions: pd.DataFrame, report_date: dt.date) -> pd.Series:
    """The campaign of every distinct user active on D-1 (one value per user)."""
    day = pd.Timestamp(report_date)
    active = sessions.loc[
        sessions["date"].dt.tz_convert("UTC").dt.tz_localize(None) == day, "user_id"
    ].drop_duplicates()
    # Only the active users' campaigns matter: find earliest purchases among their rows alone.
    buyers = curated[curated["appsflyer_id"].isin(active)]
    campaigns = user_campaigns(buyers).set_index("user_id")["campaign"]
    active_campaign = pd.Series(ORGANIC, index=active.index, dtype="str")
    known = active.isin(campaigns.index).to_numpy()
    active_campaign[known] = active[known].map(campaigns).to_numpy()
    return active_campaign


def revenue_on_day(curated: pd.DataFrame, report_date: dt.date) -> pd.DataFrame:
    """``campaign, revenue_usd`` of every curated purchase on D-1 (campaign labelled, not summed)."""
    on_day = curated[utc_day(curated["event_time_utc"]) == pd.Timestamp(report_date)]
    return pd.DataFrame(
        {
            "campaign": campaign_label(on_day["campaign"]).to_numpy(),
            "revenue_usd": on_day["revenue_usd"].to_numpy(dtype="float64"),
        }
    )


def arpdau_table(revenue: pd.Series, dau: pd.Series, all_revenue: float | None = None) -> pd.DataFrame:
    """Per-campaign revenue and DAU as the report rows: campaigns with DAU or revenue, then ALL.

    ``all_revenue`` (default: the sum of ``revenue``) lets an exact total replace a float sum.
    """
    table = pd.concat([revenue.rename("revenue_usd"), dau.rename("dau")], axis=1)
    table["revenue_usd"] = table["revenue_usd"].fillna(0.0)
    table["dau"] = table["dau"].fillna(0).astype("int64")
    table = table[(table["dau"] > 0) | (table["revenue_usd"] > 0)].sort_index()
    table.loc[ALL] = [float(revenue.sum() if all_revenue is None else all_revenue), int(dau.sum())]
    table["dau"] = table["dau"].astype("int64")
    dau_values = table["dau"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        table["arpdau"] = np.where(dau_values > 0, table["revenue_usd"].to_numpy() / dau_values, np.nan)
    return table.rename_axis("campaign").reset_index()


def arpdau_d1(curated: pd.DataFrame, sessions: pd.DataFrame, report_date: dt.date) -> pd.DataFrame:
    """Rows ``campaign, revenue_usd, dau, arpdau`` for every campaign with DAU or revenue on D-1, then ALL.

    Through the same exact partial sums a sharded run combines, so every shard count gives this table.
    """
    from revenue.partition import arpdau_partials, combine_arpdau_partials

    return combine_arpdau_partials([arpdau_partials(curated, sessions, report_date)])
