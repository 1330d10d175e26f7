"""Fixtures of the service tests: `settings_overrides` tunes the app's Settings (override it per
test with `@pytest.mark.parametrize("settings_overrides", [{...}])`); for the operations tests a
fresh migrated PostgreSQL database per module, scrape helpers for /metrics, and a throw-away
PostgreSQL cluster that a test may stop."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from tests import pg_cluster
from tests.conftest import TEST_ADMIN_TOKEN, migrate_with_cli, production_env, service_env
from tests.dbs import create_postgres_database, drop_postgres_database
from tests.live import LiveServer


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(db_url: str, settings_overrides: dict[str, Any]) -> Settings:
    if settings_overrides.get("ENVIRONMENT") == "production" and db_url.startswith("sqlite"):
        pytest.skip("production refuses SQLite; its refusal is tested in test_production_refusals")
    production = production_env() if settings_overrides.get("ENVIRONMENT") == "production" else {}
    return Settings(_env_file=None, **{**service_env(db_url), **production, **settings_overrides})


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def postgres_url(_postgres_available: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database on the shared server, migrated from empty, for one module."""
    if _postgres_available:
        pytest.skip(f"LOUD SKIP: {_postgres_available} (set CI=true to make this a failure)")
    url = create_postgres_database("ops")
    try:
        migrate_with_cli(url)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def throwaway_cluster() -> Iterator[pg_cluster.ThrowawayCluster]:
    reason = pg_cluster.available()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(f"LOUD SKIP: {reason}")
    cluster = pg_cluster.ThrowawayCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", headers={"X-Admin-Token": TEST_ADMIN_TOKEN}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def wait_for(condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.2) -> object:
    """Poll until `condition()` is truthy; a hang guard, not a performance assertion."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


def wait_for_workers(server: LiveServer, workers: int) -> LiveServer:
    """/health answers once one worker is up; tests that spread load or send signals need all."""
    wait_for(lambda: server.log().count("Worker ready") >= workers, timeout=60)
    return server
