"""The daemon's start-up heap, frozen once ready: the collector walks only what comes after."""

from __future__ import annotations

import gc
import weakref

from vyx.daemon.heap import freeze_startup_heap


class Node:
    """A container that can hold itself (a reference cycle: only the collector frees it)."""

    me: Node | None = None


def test_the_startup_heap_is_frozen_and_later_cycles_are_still_collected() -> None:
    early = Node()
    early.me = early
    early_ref = weakref.ref(early)
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
        later = Node()
        later.me = later
        later_ref = weakref.ref(later)
        del early, later
        gc.collect()
        assert later_ref() is None  # made while running: collected as ever
        assert early_ref() is not None  # frozen: the collector no longer walks it
    finally:
        gc.unfreeze()
        gc.collect()
    assert early_ref() is None
