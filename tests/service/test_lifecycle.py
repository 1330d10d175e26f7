"""Worker start-up steps that need no server around them."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from service import lifecycle

CPYTHON_THRESHOLDS = (700, 10, 10)


async def test_a_sanic_worker_freezes_its_start_up_objects_and_spaces_out_full_collections():
    before = gc.get_threshold()
    gc.unfreeze()  # an in-process server started by an earlier test may have frozen some already
    gc.set_threshold(*CPYTHON_THRESHOLDS)
    try:
        await lifecycle._tune_garbage_collector(SimpleNamespace(asgi=False))  # type: ignore[arg-type]
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == lifecycle.GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_under_asgi_the_hosts_collector_is_left_alone():
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(*CPYTHON_THRESHOLDS)
    try:
        await lifecycle._tune_garbage_collector(SimpleNamespace(asgi=True))  # type: ignore[arg-type]
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == CPYTHON_THRESHOLDS
    finally:
        gc.set_threshold(*before)
