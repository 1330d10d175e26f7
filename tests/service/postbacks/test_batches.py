"""The revenue pipeline's database edge on SQLite and PostgreSQL: which postbacks a run takes,
and marking exactly those processed (service.postbacks.batches)."""

from __future__ import annotations

import asyncio
import json

from service.postbacks import batches as postback_batches
from tests.airflow.harness import insert_postbacks, processed_flags

PURCHASE = {"event_name": "af_purchase", "appsflyer_id": "u1", "event_revenue_usd": "2.50"}
LEGACY_PURCHASE = {"event_name": " Purchase ", "appsflyer_id": "u2", "event_revenue": "1.00"}
INSTALL = {"event_name": "install", "appsflyer_id": "u3"}
# Mentions a purchase but is not one: the text pre-filter must not decide.
NOT_A_PURCHASE = {"event_name": "af_add_to_cart", "appsflyer_id": "u4", "note": "purchase soon"}


def test_take_batch_returns_unprocessed_purchases_and_records_their_ids(db_url, tmp_path):
    ids = asyncio.run(insert_postbacks(db_url, [PURCHASE, INSTALL, LEGACY_PURCHASE, NOT_A_PURCHASE]))

    rows = postback_batches.take_batch(db_url, tmp_path)

    assert [row["id"] for row in rows] == [ids[0], ids[2]]
    assert json.loads(rows[0]["payload"]) == PURCHASE
    assert postback_batches.batch_ids(tmp_path) == [ids[0], ids[2]]


def test_commit_batch_marks_only_the_recorded_postbacks(db_url, tmp_path):
    taken = asyncio.run(insert_postbacks(db_url, [PURCHASE, LEGACY_PURCHASE, INSTALL]))
    postback_batches.take_batch(db_url, tmp_path)
    # Arrives while the run is going: left for the next run.
    [late] = asyncio.run(insert_postbacks(db_url, [PURCHASE]))

    assert postback_batches.commit_batch(db_url, tmp_path) == 2

    assert asyncio.run(processed_flags(db_url)) == {taken[0]: 1, taken[1]: 1, taken[2]: 0, late: 0}
    assert [row["id"] for row in postback_batches.take_batch(db_url, tmp_path / "next")] == [late]
    assert postback_batches.commit_batch(db_url, tmp_path) == 0  # committing again changes nothing


def test_a_run_without_a_recorded_batch_marks_nothing(db_url, tmp_path):
    ids = asyncio.run(insert_postbacks(db_url, [PURCHASE]))
    assert postback_batches.commit_batch(db_url, tmp_path) == 0
    assert asyncio.run(processed_flags(db_url)) == {ids[0]: 0}


def test_unverified_postbacks_stay_out_unless_configured(db_url, tmp_path):
    [signed] = asyncio.run(insert_postbacks(db_url, [PURCHASE]))
    [unsigned] = asyncio.run(insert_postbacks(db_url, [LEGACY_PURCHASE], verified=False))
    taken = postback_batches.take_batch(db_url, tmp_path / "default", with_unverified=False)
    assert [row["id"] for row in taken] == [signed]
    everything = postback_batches.take_batch(db_url, tmp_path / "all", with_unverified=True)
    assert [row["id"] for row in everything] == [signed, unsigned]
