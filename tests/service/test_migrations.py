"""Both Aerich histories, applied to empty databases, build the same schema."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import migrate_with_cli, repo_root
from tests.dbs import create_postgres_database, drop_postgres_database, sqlite_url
from tests.service.schema_introspection import postgres_schema, sqlite_schema

EXPECTED_TABLES = {"users", "events", "idempotency_keys", "raw_postbacks", "wallet_ledger", "aerich"}
BRIEF_INDEXES = {
    "users": {"idx_users_user_id"},
    "events": {
        "idx_events_user_id",
        "idx_events_event_type",
        "idx_events_ts_utc",
        "idx_user_time",
        "idx_type_time",
        "idx_user_type_time",
    },
    "idempotency_keys": {"idx_idempotency_key", "idx_idempotency_expires"},
    "raw_postbacks": {"idx_postbacks_ts", "idx_postbacks_processed", "idx_postbacks_body_sha256"},
}


@pytest.fixture
def fresh_postgres(_postgres_available):
    if _postgres_available:
        pytest.skip(f"LOUD SKIP: {_postgres_available}")
    url = create_postgres_database("schema")
    yield url
    drop_postgres_database(url)


async def test_sqlite_and_postgres_histories_build_identical_schemas(tmp_path, fresh_postgres):
    sqlite_db = sqlite_url(tmp_path / "fresh.db")
    migrate_with_cli(sqlite_db)
    migrate_with_cli(fresh_postgres)

    lite = sqlite_schema(sqlite_db)
    pg = await postgres_schema(fresh_postgres)

    assert set(lite) == set(pg) == EXPECTED_TABLES
    for table in EXPECTED_TABLES:
        assert lite[table] == pg[table], table
    for table, names in BRIEF_INDEXES.items():
        assert names <= set(lite[table]["indexes"]), table
    assert ("user_id", "endpoint", "key") in lite["idempotency_keys"]["unique"]
    assert ("user_id",) in lite["users"]["unique"]
    assert lite["wallet_ledger"]["fks"] == {("user_id", "users", "id", "RESTRICT")}
    assert lite["users"]["columns"]["balance"]["default"] == "0"


def test_migrate_twice_is_a_no_op(tmp_path):
    db = sqlite_url(tmp_path / "again.db")
    migrate_with_cli(db)
    migrate_with_cli(db)
    assert "users" in sqlite_schema(db)


def test_both_histories_cover_the_current_models():
    """Fails when service/models.py changed without `python -m service makemigrations NAME`."""
    result = subprocess.run(
        [sys.executable, "-m", "service", "makemigrations", "guard", "--check"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["sqlite:", "no", "changes", "postgres:", "no", "changes"]
