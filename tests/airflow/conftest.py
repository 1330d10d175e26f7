"""Fixtures for the DAG and /run-pipeline tests: one migrated Airflow metadata database per
session (copied wherever an Airflow home is needed), generated pipeline inputs, and settings
pointing the service at temp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from revenue import synth
from tests.airflow.harness import FAST_RETRIES, SYNTH_ROWS, SYNTH_SEED, migrate_airflow_metadata
from tests.dbs import clean_tables


@pytest.fixture(scope="session")
def airflow_metadata_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrate_airflow_metadata(tmp_path_factory.mktemp("airflow-template"))


@pytest.fixture(scope="session")
def synth_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    frames, truth = synth.generate(SYNTH_ROWS, SYNTH_SEED)
    synth.write_dataset(folder, frames, truth)
    return folder


@pytest.fixture(autouse=True)
def _fast_task_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sqlite_url(migrated_databases: dict[str, str | None]) -> str:
    url = migrated_databases["sqlite"]
    assert url is not None
    clean_tables(url)
    return url
