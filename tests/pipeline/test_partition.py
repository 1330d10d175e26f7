"""Hash partitioning for sharded runs: stable shards, every row in exactly one, exact combines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from revenue import partition, synth
from revenue.arpdau import arpdau_d1
from revenue.io import INPUT_FILES, INPUT_SCHEMAS, SOURCE_ROW, InputSchemaError, read_input_csv
from revenue.normalise import normalise_purchases, normalise_sessions, split_dropped

KEYS = ["abc", "", "ümlaut-ß", "1700000000000-1234567", " padded ", "x" * 70, "a", "b"]


def fnv1a_mixed(text: str) -> int:
    """The documented hash, one byte at a time in plain Python."""
    mask = (1 << 64) - 1
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x100000001B3) & mask
    value ^= value >> 30
    value = (value * 0xBF58476D1CE4E5B9) & mask
    value ^= value >> 27
    value = (value * 0x94D049BB133111EB) & mask
    return value ^ (value >> 31)


def test_hash_is_fnv1a_of_the_utf8_bytes_for_keys_of_every_length():
    assert [int(h) for h in partition.stable_hash64(KEYS)] == [fnv1a_mixed(key) for key in KEYS]


def test_same_key_same_shard_in_other_processes_whatever_their_hash_seed():
    keys = [f"user-{n}" for n in range(500)] + KEYS
    here = partition.shard_of(pd.Series(keys), 7).tolist()
    script = (
        "import json, sys, pandas as pd; from revenue.partition import shard_of;"
        "print(json.dumps(shard_of(pd.Series(json.loads(sys.stdin.read())), 7).tolist()))"
    )
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(keys),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(other.stdout) == here
    assert len(set(here)) == 7  # 508 keys spread over every shard


def test_key_is_compared_trimmed_like_normalise_does():
    shards = partition.shard_of(pd.Series(["id-42", "  id-42 ", "id-42\t"]), 16)
    assert len(set(shards.tolist())) == 1


def test_shard_count_must_be_positive():
    with pytest.raises(ValueError, match="shards"):
        partition.shard_of(pd.Series(["a"]), 0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("partition-data")
    frames, truth = synth.generate(2000, 11)
    synth.write_dataset(folder, frames, truth)
    return folder


def read_shards(result: dict) -> list[pd.DataFrame]:
    return [partition.read_partition(Path(path)) for path in result["paths"]]


@pytest.mark.parametrize("source", ["purchases", "confirmed", "sessions"])
@pytest.mark.parametrize("shards", [2, 5])
def test_every_row_lands_in_exactly_one_shard_and_keys_stay_together(dataset, tmp_path, source, shards):
    whole = read_input_csv(dataset / INPUT_FILES[source], INPUT_SCHEMAS[source]).frame
    # A small block forces many batches: the file is never read in one piece.
    result = partition.partition_csv(
        dataset / INPUT_FILES[source], source, tmp_path, shards, block_bytes=4096
    )
    parts = read_shards(result)
    assert result["total_rows"] == len(whole) and sum(result["rows"]) == len(whole)
    assert [len(part) for part in parts] == result["rows"]
    combined = pd.concat(parts).sort_values(SOURCE_ROW, ignore_index=True)
    pd.testing.assert_frame_equal(combined, whole, check_dtype=False)
    key = partition.PARTITION_KEYS[source]
    owner = {}
    for shard, part in enumerate(parts):
        for value in partition.normalised_key(part[key]).unique():
            assert owner.setdefault(value, shard) == shard, (
                f"{key} {value!r} in shards {owner[value]} and {shard}"
            )


def test_one_shard_is_the_whole_input(dataset, tmp_path):
    result = partition.partition_csv(
        dataset / "purchases_raw.csv", "purchases", tmp_path, 1, block_bytes=4096
    )
    whole = read_input_csv(dataset / "purchases_raw.csv", INPUT_SCHEMAS["purchases"]).frame
    pd.testing.assert_frame_equal(read_shards(result)[0], whole, check_dtype=False)


def test_empty_shards_are_written_with_the_schema(tmp_path):
    data = tmp_path / "sessions.csv"
    data.write_text("date,user_id,event_timestamp_utc\n2025-11-10,only-user,2025-11-10T10:00:00Z\n")
    result = partition.partition_csv(data, "sessions", tmp_path / "work", 4)
    parts = read_shards(result)
    assert sorted(len(part) for part in parts) == [0, 0, 0, 1]
    assert all(list(part.columns) == ["date", "user_id", "event_timestamp_utc", SOURCE_ROW] for part in parts)


def test_missing_column_names_file_and_column(tmp_path):
    data = tmp_path / "sessions.csv"
    data.write_text("date,event_timestamp_utc\n2025-11-10,2025-11-10T10:00:00Z\n")
    with pytest.raises(InputSchemaError, match="user_id"):
        partition.partition_csv(data, "sessions", tmp_path, 2)


def curated_shards(
    dataset: Path, tmp_path: Path, shards: int
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Normalised purchases and sessions per shard (dedup does not matter for the sums checked here)."""
    location = tmp_path / f"k{shards}"
    purchases = read_shards(
        partition.partition_csv(dataset / "purchases_raw.csv", "purchases", location, shards)
    )
    sessions = read_shards(partition.partition_csv(dataset / "sessions.csv", "sessions", location, shards))
    curated = [split_dropped(normalise_purchases(part), "purchases")[0] for part in purchases]
    active = [split_dropped(normalise_sessions(part), "sessions")[0] for part in sessions]
    return curated, active


def test_revenue_partials_combine_to_the_same_table_for_every_shard_count(dataset, tmp_path):
    tables = []
    for shards in (1, 2, 4):
        curated, _ = curated_shards(dataset, tmp_path, shards)
        tables.append(
            partition.combine_revenue_partials(partition.revenue_partials(part) for part in curated)
        )
    for other in tables[1:]:
        pd.testing.assert_frame_equal(other, tables[0])
    curated, _ = curated_shards(dataset, tmp_path, 3)
    whole = pd.concat(curated)
    expected = whole.groupby([whole["event_time_utc"].dt.floor("D").dt.tz_localize(None), "campaign"])[
        "revenue_usd"
    ].sum()
    assert tables[0]["revenue_usd"].sum() == pytest.approx(expected.sum())
    assert int(tables[0]["purchases"].sum()) == len(whole)


def test_arpdau_partials_combine_to_the_unsharded_table(dataset, tmp_path):
    report_date = synth.END_DATE
    curated, sessions = curated_shards(dataset, tmp_path, 1)
    unsharded = arpdau_d1(curated[0], sessions[0], report_date)
    for shards in (1, 3, 4):
        curated, sessions = (
            curated_shards(dataset, tmp_path / str(shards), shards) if shards > 1 else (curated, sessions)
        )
        partials = [
            partition.arpdau_partials(c, s, report_date) for c, s in zip(curated, sessions, strict=False)
        ]
        combined = partition.combine_arpdau_partials(reversed(partials))
        assert combined["campaign"].tolist() == unsharded["campaign"].tolist()
        assert combined["dau"].tolist() == unsharded["dau"].tolist()
        np.testing.assert_allclose(combined["revenue_usd"], unsharded["revenue_usd"], rtol=1e-12)
        np.testing.assert_allclose(combined["arpdau"], unsharded["arpdau"], rtol=1e-12)
    assert unsharded["dau"].iloc[-1] > 0 and unsharded["campaign"].iloc[-1] == "ALL"


def test_micro_dollar_sums_do_not_depend_on_order():
    amounts = np.array([0.1, 0.2, 0.3, 1e6 + 0.01, 19.99, 1.23456])
    forward = partition.to_micros(amounts).sum()
    backward = partition.to_micros(amounts[::-1]).sum()
    assert forward == backward == 1_000_021_834_560
    assert partition.from_micros(np.array([forward]))[0] == 1000021.83456


def test_work_location_local_path_and_file_url(tmp_path):
    assert partition.work_location(str(tmp_path)) == tmp_path
    assert partition.work_location(f"file://{tmp_path}") == tmp_path
    with pytest.raises(ValueError, match="PIPELINE_WORK_URL"):
        partition.work_location("")


def test_object_storage_url_goes_through_airflow_object_storage_path(dataset):
    """In a child process (importing Airflow configures logging): partitions written to and read
    back from an fsspec in-memory bucket through ObjectStoragePath."""
    script = f"""
import json
from pathlib import Path
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem
from revenue import partition
attach("memory", fs=MemoryFileSystem())  # how a deployment registers a filesystem no provider brings
location = partition.work_location("memory://bucket/work")
location.mkdir(parents=True, exist_ok=True)
result = partition.partition_csv(Path({str(dataset)!r}) / "sessions.csv", "sessions", location, 3)
rows = [len(partition.read_partition(partition.partition_file(location, "sessions", k))) for k in range(3)]
print(json.dumps({{"type": type(location).__name__, "rows": rows, "expected": result["rows"],
                   "paths": result["paths"]}}))
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert figures["type"] == "ObjectStoragePath"
    assert figures["rows"] == figures["expected"] and sum(figures["rows"]) > 0
    assert all(path.startswith("memory://") for path in figures["paths"])
