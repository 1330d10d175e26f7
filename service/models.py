"""Tortoise models: the brief's four tables (§7) plus `wallet_ledger`.

Index names follow the brief so the schema reads the same in both dialects. The schema itself is
owned by the Aerich histories in migrations/; never generate it from these classes at run time.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class User(Model):
    id = fields.IntField(primary_key=True)
    user_id = fields.CharField(max_length=255, unique=True)
    balance = fields.BigIntField(default=0, db_default=0)
    # argon2id hash of the account's secret; NULL while the account is not bound (SPEC §3b).
    secret_hash = fields.CharField(max_length=255, null=True)
    # Tokens carry the version they were issued under; /logout increments it to revoke them.
    token_version = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "users"
        indexes = (Index(fields=("user_id",), name="idx_users_user_id"),)


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    # A plain string, not a foreign key: postbacks and /track log events for ids that never log in.
    user_id = fields.CharField(max_length=255)
    event_type = fields.CharField(max_length=255)
    ts_utc = fields.DatetimeField()
    meta = fields.TextField(null=True)

    class Meta:
        table = "events"
        indexes = (
            Index(fields=("user_id",), name="idx_events_user_id"),
            Index(fields=("event_type",), name="idx_events_event_type"),
            Index(fields=("ts_utc",), name="idx_events_ts_utc"),
            Index(fields=("user_id", "ts_utc"), name="idx_user_time"),
            Index(fields=("event_type", "ts_utc"), name="idx_type_time"),
            Index(fields=("user_id", "event_type", "ts_utc"), name="idx_user_type_time"),
        )


class IdempotencyKey(Model):
    """One claimed Idempotency-Key. `status_code` is NULL while the first request is in flight."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=255)
    endpoint = fields.CharField(max_length=64)
    user_id = fields.CharField(max_length=255)
    request_fingerprint = fields.CharField(max_length=64)
    status_code = fields.IntField(null=True)
    response_data = fields.TextField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "idempotency_keys"
        # The brief's `key UNIQUE` would let one user's key block another's: scope is per user+endpoint.
        unique_together = (("user_id", "endpoint", "key"),)
        indexes = (
            Index(fields=("key",), name="idx_idempotency_key"),
            Index(fields=("expires_at",), name="idx_idempotency_expires"),
        )


class RawPostback(Model):
    id = fields.BigIntField(primary_key=True)
    source = fields.CharField(max_length=32)
    payload = fields.TextField()
    signature = fields.CharField(max_length=255, null=True)
    ts_utc = fields.DatetimeField()
    processed = fields.IntField(default=0, db_default=0)
    # SHA-256 of the raw body: retries of the same postback are recognised by it (SPEC §4).
    body_sha256 = fields.CharField(max_length=64, null=True)
    verified = fields.BooleanField(null=True)

    class Meta:
        table = "raw_postbacks"
        indexes = (
            Index(fields=("ts_utc",), name="idx_postbacks_ts"),
            Index(fields=("processed",), name="idx_postbacks_processed"),
            Index(fields=("body_sha256",), name="idx_postbacks_body_sha256"),
        )


class WalletLedger(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ledger", on_delete=fields.RESTRICT
    )
    delta = fields.BigIntField()
    balance_after = fields.BigIntField()
    reason = fields.CharField(max_length=100)
    idempotency_key = fields.CharField(max_length=255, null=True)
    request_id = fields.CharField(max_length=128, null=True)
    ts = fields.DatetimeField()

    class Meta:
        table = "wallet_ledger"
        indexes = (
            Index(fields=("user_id", "ts"), name="idx_ledger_user_ts"),
            # Economy caps count a user's grants of one reason today (service.wallet.rules).
            Index(fields=("user_id", "reason", "ts"), name="idx_ledger_user_reason_ts"),
        )
