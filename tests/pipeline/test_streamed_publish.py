"""Publish streams the big tables (issue 13): the shards' files are merged and written a record batch
at a time, and the reports stay those of a run that loads everything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revenue import reconcile as reconcile_stage
from revenue import reports, synth, work
from revenue.reports import REPORT_FILES
from revenue.sharded import input_order
from revenue.stages import run_all
from revenue.work import load_frame, merge_sorted, save_frame

REPORT_DATE = synth.END_DATE.isoformat()
TINY_BATCH = 97


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("streamed") / "data"
    frames, truth = synth.generate(3000, 29)
    synth.write_dataset(folder, frames, truth)
    return folder


def test_merge_is_the_sorted_union_written_in_bounded_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(work, "BATCH_ROWS", TINY_BATCH)
    rows = np.random.default_rng(5).permutation(5000)
    sources = []
    for shard, part in enumerate(np.array_split(rows, 3)):
        folder = tmp_path / f"shard-{shard}"
        folder.mkdir()
        ordered = np.sort(part)
        save_frame(
            folder, "curated_purchases", pd.DataFrame({"source_row": ordered, "text": ordered.astype(str)})
        )
        sources.append(folder)
    empty = tmp_path / "shard-empty"
    empty.mkdir()
    save_frame(empty, "curated_purchases", pd.DataFrame({"source_row": np.array([], "int64"), "text": []}))

    assert merge_sorted([*sources, empty], "curated_purchases", tmp_path, input_order) == 5000

    merged = load_frame(tmp_path, "curated_purchases")
    assert merged["source_row"].tolist() == list(range(5000))
    assert (merged["text"] == merged["source_row"].astype(str)).all()
    groups = pq.ParquetFile(tmp_path / "curated_purchases.parquet").metadata
    sizes = [groups.row_group(index).num_rows for index in range(groups.num_row_groups)]
    assert groups.num_row_groups > 1 and max(sizes) <= TINY_BATCH


def _examples_from_whole_table(detail: pd.DataFrame, limit: int) -> dict[str, list[int]]:
    """The examples' rows as the whole-table pick chose them: positions, mismatches first."""
    chosen = {}
    for name in reconcile_stage.CATEGORIES:
        positions = np.flatnonzero(detail["category"].to_numpy() == name)
        if name == reconcile_stage.MATCHED:
            mismatch = detail["revenue_mismatch"].to_numpy(dtype=bool)[positions]
            positions = np.concatenate([positions[mismatch], positions[~mismatch]])
        chosen[name] = detail["key"].to_numpy()[positions[:limit]].tolist()
    return chosen


def test_examples_picked_across_batches_are_the_whole_table_pick(monkeypatch):
    monkeypatch.setattr(reports, "MAX_EXAMPLES", 40)
    rng = np.random.default_rng(11)
    size = 2000
    detail = pd.DataFrame(
        {
            "category": pd.Categorical(
                rng.choice(list(reconcile_stage.CATEGORIES), size, p=[0.8, 0.19, 0.01]),
                categories=list(reconcile_stage.CATEGORIES),
            ),
            "revenue_mismatch": rng.random(size) < 0.02,
            "key": np.arange(size),
        }
    )
    table = pa.Table.from_pandas(detail, preserve_index=False)
    batches = [table.slice(start, TINY_BATCH) for start in range(0, size, TINY_BATCH)]

    examples = reports.reconciliation_examples(batches)

    expected = _examples_from_whole_table(detail, 40)
    assert {name: [item["key"] for item in rows] for name, rows in examples.items()} == expected
    assert len(expected[reconcile_stage.CONFIRMED_ONLY]) < 40 <= len(expected[reconcile_stage.MATCHED])


@pytest.mark.parametrize("shards", [1, 3])
def test_tiny_batches_publish_the_reports_of_one_batch(dataset, tmp_path, monkeypatch, shards):
    whole = tmp_path / "whole"
    run_all(dataset, whole, report_date=REPORT_DATE)
    monkeypatch.setattr(work, "BATCH_ROWS", TINY_BATCH)
    streamed = tmp_path / "streamed"
    run_all(dataset, streamed, report_date=REPORT_DATE, shards=shards, work_dir=tmp_path / "work")
    for name in REPORT_FILES:
        assert (streamed / name).read_bytes() == (whole / name).read_bytes(), name
    assert (streamed / "purchases_curated.csv").read_text().count("\n") > 10 * TINY_BATCH


def test_a_file_out_of_merge_order_fails_the_merge(tmp_path, monkeypatch):
    monkeypatch.setattr(work, "BATCH_ROWS", TINY_BATCH)
    rows = np.arange(500)
    rows[[300, 301]] = rows[[301, 300]]  # in the second batch, as a file an older shard stage wrote
    save_frame(tmp_path, "curated_purchases", pd.DataFrame({"source_row": rows}))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match="not in merge order"):
        merge_sorted([tmp_path], "curated_purchases", out, input_order)
    assert list(out.iterdir()) == []
