"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory):
    """A small generated dataset (seed 7) on disk with its ground truth."""
    from revenue import synth

    out = tmp_path_factory.mktemp("synth") / "data"
    frames, truth = synth.generate(3000, 7)
    synth.write_dataset(out, frames, truth)
    return out, truth
