"""The revenue pipeline's database edge: the AppsFlyer purchase postbacks a run takes (SPEC §5).

`extract` takes every unprocessed purchase postback from raw_postbacks and records their ids
in the run's work folder; `publish`, after the reports are written, marks exactly those ids
processed. A run that fails before that marks nothing, and a postback that arrives while a
run is going is left for the next one. Synchronous on purpose: Airflow tasks are plain
functions, so each call opens its own short-lived Tortoise context via asyncio.run.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from revenue.io import write_json_atomic
from revenue.postbacks import is_purchase_postback
from service.db import tortoise_config
from service.models import RawPostback

BATCH_FILE = "postback_batch.json"
POSTBACK_SOURCE = "appsflyer"
# Keeps each UPDATE ... WHERE id IN (...) well under SQLite's bound-parameter limit.
MARK_CHUNK = 500

T = TypeVar("T")


def _run_with_db(database_url: str, query: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(database_url, pool_max=1))
            return await query()

    return asyncio.run(run())


def include_unverified() -> bool:
    """PIPELINE_INCLUDE_UNVERIFIED=true lets unsigned (development) postbacks feed the pipeline."""
    return os.environ.get("PIPELINE_INCLUDE_UNVERIFIED", "").strip().lower() in {"1", "true", "yes"}


async def _unprocessed_purchase_postbacks(with_unverified: bool) -> list[dict[str, Any]]:
    # The LIKE narrows the scan to candidate rows; the JSON check decides.
    query = RawPostback.filter(processed=0, source=POSTBACK_SOURCE, payload__icontains="purchase")
    if not with_unverified:
        # Only proven postbacks are revenue: an unsigned one could say anything.
        query = query.filter(verified=True)
    candidates = await query.order_by("id").values("id", "payload")
    return [row for row in candidates if is_purchase_postback(row["payload"])]


def take_batch(
    database_url: str, work_dir: str | Path, with_unverified: bool | None = None
) -> list[dict[str, Any]]:
    """Unprocessed purchase postbacks as {"id", "payload"} rows; their ids are recorded in work_dir.

    Unverified postbacks are left out unless `with_unverified` (default: the environment's
    PIPELINE_INCLUDE_UNVERIFIED)."""
    if with_unverified is None:
        with_unverified = include_unverified()
    rows = _run_with_db(database_url, lambda: _unprocessed_purchase_postbacks(with_unverified))
    write_json_atomic(Path(work_dir) / BATCH_FILE, {"postback_ids": [row["id"] for row in rows]})
    return rows


def batch_ids(work_dir: str | Path) -> list[int]:
    """The ids `take_batch` recorded for this run (none recorded: nothing to mark)."""
    path = Path(work_dir) / BATCH_FILE
    if not path.is_file():
        return []
    return [int(postback_id) for postback_id in json.loads(path.read_text("utf-8"))["postback_ids"]]


def commit_batch(database_url: str, work_dir: str | Path) -> int:
    """Mark the recorded postbacks processed, all or none; returns how many changed from 0 to 1."""
    ids = batch_ids(work_dir)

    async def mark() -> int:
        changed = 0
        async with in_transaction():
            for start in range(0, len(ids), MARK_CHUNK):
                chunk = ids[start : start + MARK_CHUNK]
                changed += await RawPostback.filter(id__in=chunk, processed=0).update(processed=1)
        return changed

    return _run_with_db(database_url, mark) if ids else 0
