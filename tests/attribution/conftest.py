"""Attribution tests reuse core's fixtures; `settings_overrides` tunes the app's Settings.

Override it per test with `@pytest.mark.parametrize("settings_overrides", [{...}])`.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.config import Settings
from tests.conftest import production_env, service_env


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(db_url: str, settings_overrides: dict[str, Any]) -> Settings:
    if settings_overrides.get("ENVIRONMENT") == "production" and db_url.startswith("sqlite"):
        pytest.skip("production refuses SQLite; its refusal is tested in test_production_refusals")
    production = production_env() if settings_overrides.get("ENVIRONMENT") == "production" else {}
    return Settings(_env_file=None, **{**service_env(db_url), **production, **settings_overrides})
