"""``bench_daemon``'s kernel cache: empty at the start, so its first daemon is a user's first run.

The daemons of one ``bench_daemon`` run share a numba cache of their own (``NUMBA_CACHE_DIR``
in the run's temporary directory): the first one starts on an empty cache (it compiles every
kernel, with progress, in forked processes, as ``vyx run`` does on a machine or a version that
never ran them), and every later one loads from what that first one compiled — which is a
user's first run after an install. A kernel compiled after ready (not compiled up front nor
loaded before ready) would be written to the cache during a later daemon's run:
:func:`written_after` names those files.
"""

from __future__ import annotations

import os
from pathlib import Path


def use_empty_cache(tmp: Path) -> Path:
    """Point ``NUMBA_CACHE_DIR`` (passed on to the daemons) at an empty directory in ``tmp``."""
    cache = tmp / "numba-cache"
    cache.mkdir()
    os.environ["NUMBA_CACHE_DIR"] = str(cache)
    return cache


def snapshot(cache: Path) -> dict[str, int]:
    """Every file of the cache -> its modification time (ns)."""
    return {
        str(p.relative_to(cache)): p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()
    }


def written_after(cache: Path, before: dict[str, int]) -> list[str]:
    """The cache's index files (one per compiled kernel) written since ``before``."""
    return sorted(
        name
        for name, mtime in snapshot(cache).items()
        if name.endswith(".nbi") and before.get(name) != mtime
    )
