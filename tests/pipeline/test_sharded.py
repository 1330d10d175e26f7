"""Sharded runs (SPEC §6 distributed execution): every shard count publishes the unsharded reports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from revenue import partition, synth
from revenue.io import INPUT_FILES, INPUT_SCHEMAS, read_input_csv
from revenue.postbacks import postbacks_to_purchases
from revenue.reports import REPORT_FILES
from revenue.stages import run_all
from tests.pipeline.cli import run_cli

REPORT_DATE = synth.END_DATE.isoformat()


@pytest.fixture(scope="module")
def dirty_dataset(tmp_path_factory) -> Path:
    """Generated inputs (chargebacks, duplicates, dirty values) plus malformed lines in three files."""
    folder = tmp_path_factory.mktemp("sharded") / "data"
    frames, truth = synth.generate(4000, 13)
    synth.write_dataset(folder, frames, truth)
    for name, bad in (
        ("purchases_raw.csv", ["too,few\n", "a,b,c,d,e,f,g,h,i,j\n"]),
        ("confirmed_purchases.csv", ["x,y\n"]),
        ("sessions.csv", ["1,2,3,4,5\n"]),
    ):
        lines = (folder / name).read_text().splitlines(keepends=True)
        for offset, line in enumerate(bad):
            lines.insert(7 + 401 * offset, line)
        (folder / name).write_text("".join(lines))
    return folder


def postbacks() -> pd.DataFrame:
    return postbacks_to_purchases(
        [
            {
                "id": 1,
                "payload": '{"event_name": "af_purchase", "appsflyer_id": "af0000003",'
                ' "event_revenue_usd": "4.99",'
                f' "event_time": "{REPORT_DATE} 08:00:00", "campaign": "summer sale 1"}}',
            },
            {
                "id": 2,
                "payload": '{"event_name": "af_purchase", "appsflyer_id": "pb-only",'
                ' "event_revenue_usd": "1,99",'
                f' "event_time": "{REPORT_DATE} 09:00:00", "af_receipt_id": "pb-r2"}}',
            },
        ]
    )


@pytest.mark.parametrize("source", ["purchases", "confirmed", "sessions"])
def test_partitioning_skips_and_counts_malformed_lines_as_the_whole_file_read_does(
    dirty_dataset, tmp_path, source
):
    whole = read_input_csv(dirty_dataset / INPUT_FILES[source], INPUT_SCHEMAS[source])
    result = partition.partition_csv(
        dirty_dataset / INPUT_FILES[source], source, tmp_path, 3, block_bytes=4096
    )
    assert whole.malformed_rows > 0
    assert (result["malformed_rows"], result["malformed_lines"]) == (
        whole.malformed_rows,
        whole.malformed_lines,
    )
    assert result["total_rows"] == len(whole.frame)


@pytest.fixture(scope="module")
def unsharded_reports(dirty_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unsharded")
    run_all(dirty_dataset, out, report_date=REPORT_DATE, postback_purchases=postbacks())
    return out


@pytest.mark.parametrize("shards", [1, 2, 4, 8])
def test_every_shard_count_publishes_the_unsharded_reports_byte_for_byte(
    dirty_dataset, unsharded_reports, tmp_path, shards
):
    result = run_all(
        dirty_dataset,
        tmp_path / "reports",
        report_date=REPORT_DATE,
        postback_purchases=postbacks(),
        shards=shards,
        work_dir=tmp_path / "work",
    )
    for name in REPORT_FILES:
        assert (tmp_path / "reports" / name).read_bytes() == (unsharded_reports / name).read_bytes(), name
    # Each shard really held only its part of the input.
    parts = sorted((tmp_path / "work").glob("purchases-part-*.parquet"))
    assert len(parts) == shards
    assert result["stages"]["extract"]["rows"]["postbacks"] == 2


def test_cli_with_shards_writes_the_same_reports_as_without(dirty_dataset, unsharded_reports, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dirty_dataset, data)
    outputs = {}
    for shards in (1, 4):
        out = tmp_path / f"reports-{shards}"
        completed = run_cli(data, out, "--date", REPORT_DATE, "--no-progress", "--shards", str(shards))
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "malformed line(s) skipped" in completed.stdout
        outputs[shards] = out
    for name in REPORT_FILES:
        assert (outputs[4] / name).read_bytes() == (outputs[1] / name).read_bytes(), name


def test_sharded_stages_through_object_storage_publish_the_same_reports(
    dirty_dataset, unsharded_reports, tmp_path
):
    """The DAG's calls with an object-storage work location (an fsspec in-memory bucket through
    Airflow's ObjectStoragePath, handed on as text like XCom does), in a child process (importing
    Airflow configures logging)."""
    script = f"""
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem
from revenue import sharded, stages
from revenue.partition import work_location
from tests.pipeline.test_sharded import postbacks
attach("memory", fs=MemoryFileSystem())
location, shards = work_location("memory://bucket/run-1"), 3
day = sharded.extract({str(dirty_dataset)!r}, location, shards, postbacks(), {REPORT_DATE!r})["date"]
text = str(location)
for stage in (sharded.normalise_shard, sharded.dedup_shard, sharded.roas_shard):
    for shard in range(shards):
        stage(text, shard)
for shard in range(shards):
    sharded.reconcile_shard(text, shard, 10.0)
    sharded.arpdau_shard(text, shard, day)
print("objects", len(location.fs.find(location.path)))
local = sharded.combine_for_publish(text, shards, {str(tmp_path / "local")!r}, 10.0)
stages.publish(local, {str(tmp_path / "reports")!r})
sharded.remove_location(text)
print("left", location.exists(), type(location).__name__)
"""
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert int(lines[-2].split()[1]) > 3 * 3  # partitions and shard files lived in the bucket
    assert lines[-1] == "left False ObjectStoragePath"
    for name in REPORT_FILES:
        assert (tmp_path / "reports" / name).read_bytes() == (unsharded_reports / name).read_bytes(), name
