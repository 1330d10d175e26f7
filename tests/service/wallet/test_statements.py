"""The hot wallet statements come from Tortoise's own query builder (design card: select_for_update)."""

from __future__ import annotations

from service.models import User
from service.wallet.rules import _user_statements


async def test_the_lock_statement_is_tortoises_select_for_update(orm):
    dialect = User._meta.db.capabilities.dialect
    lock_user, read_user = _user_statements(dialect)
    built = User.filter(user_id="").select_for_update().only("id", "balance", "token_version").sql()
    assert lock_user == built
    # PostgreSQL locks the row; SQLite has no row locks (its write lock comes from the UPDATE).
    assert lock_user.endswith("FOR UPDATE") == (dialect == "postgres")
    assert read_user.startswith("SELECT") and "FOR UPDATE" not in read_user
