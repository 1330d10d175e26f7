"""Storing a validated postback: raw row + `af_*` event in one transaction, retries recognised.

A retry is the same body (by SHA-256) within `DEDUPE_WINDOW` of the first receipt; it gets the
first postback's ids back and stores nothing. Two copies arriving at the same moment must still
make one row, so the look-up and the insert run under a lock on the digest: a PostgreSQL
transaction-scoped advisory lock (other digests are not blocked), and on SQLite the database's
write lock taken up front (SQLite runs one write transaction at a time anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from service.models import Event, RawPostback
from service.postbacks.rules import SOURCE, Postback, Proof

DEDUPE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class StoredPostback:
    postback_id: int
    event_id: int | None
    duplicate: bool


def advisory_lock_key(digest: str) -> int:
    """The first 8 bytes of the digest as the signed 64-bit key pg_advisory_xact_lock takes."""
    return int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)


async def _lock_digest(conn: BaseDBAsyncClient, digest: str) -> None:
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [advisory_lock_key(digest)])
    else:
        # Take SQLite's write lock before reading (what BEGIN IMMEDIATE does): another worker
        # process waits for it here (busy timeout) instead of failing its commit on a stale read.
        await conn.execute_query("UPDATE raw_postbacks SET processed = processed WHERE 0")


async def _event_of(first: RawPostback, postback: Postback, conn: BaseDBAsyncClient) -> int | None:
    # The event was made from the same bytes, so every column is known: the user and type come
    # from the body, ts is event_time or else the first receipt's time, meta is the text.
    event = (
        await Event.filter(
            user_id=postback.user_id,
            event_type=postback.event_type,
            ts_utc=postback.event_time or first.ts_utc,
            meta=first.payload,
        )
        .using_db(conn)
        .order_by("id")
        .first()
    )
    return event.id if event else None


async def store_postback(postback: Postback, proof: Proof, now: datetime | None = None) -> StoredPostback:
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        await _lock_digest(conn, postback.body_sha256)
        first = (
            await RawPostback.filter(body_sha256=postback.body_sha256, ts_utc__gte=now - DEDUPE_WINDOW)
            .using_db(conn)
            .order_by("id")
            .first()
        )
        if first is not None:
            return StoredPostback(first.id, await _event_of(first, postback, conn), duplicate=True)
        raw = await RawPostback.create(
            source=SOURCE,
            payload=postback.text,
            signature=proof.signature,
            ts_utc=now,
            processed=0,
            body_sha256=postback.body_sha256,
            verified=proof.verified,
            using_db=conn,
        )
        event = await Event.create(
            user_id=postback.user_id,
            event_type=postback.event_type,
            ts_utc=postback.event_time or now,
            meta=postback.text,
            using_db=conn,
        )
        return StoredPostback(raw.id, event.id, duplicate=False)
