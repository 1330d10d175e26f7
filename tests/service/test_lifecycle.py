"""Worker start-up steps that need no server around them."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from service import lifecycle


async def test_a_sanic_worker_freezes_its_start_up_objects_and_spaces_out_full_collections():
    before, thresholds = gc.get_freeze_count(), gc.get_threshold()
    try:
        await lifecycle._tune_garbage_collector(SimpleNamespace(asgi=False))  # type: ignore[arg-type]
        assert gc.get_freeze_count() > before
        assert gc.get_threshold()[2] > thresholds[2]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_under_asgi_the_hosts_collector_is_left_alone():
    gc.unfreeze()
    thresholds = gc.get_threshold()
    await lifecycle._tune_garbage_collector(SimpleNamespace(asgi=True))  # type: ignore[arg-type]
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
