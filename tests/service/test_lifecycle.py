"""Worker start-up steps that need no server around them."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from service import lifecycle


async def test_a_sanic_worker_freezes_its_start_up_objects_out_of_the_collectors_reach():
    before = gc.get_freeze_count()
    try:
        await lifecycle._freeze_start_up_objects(SimpleNamespace(asgi=False))  # type: ignore[arg-type]
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


async def test_under_asgi_the_hosts_objects_are_left_alone():
    gc.unfreeze()
    await lifecycle._freeze_start_up_objects(SimpleNamespace(asgi=True))  # type: ignore[arg-type]
    assert gc.get_freeze_count() == 0
