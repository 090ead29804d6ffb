"""How far the screener got, kept across restarts, so a restart misses no bar.

Per timeframe, the close time of the newest bar screened is written to ``screened.json`` in the
data directory — but only after the store holds that bar's signals (handed on by the delivery,
then ``Store.flush``: written to SQLite, or durable in the Supabase spool). On start, the
screener warms its state up to that mark and screens the bars that closed while the daemon was
down, emitting their signals (see :class:`vyx.screener.service.Screener`). A crash between a
screen and its mark makes the next start screen that bar again: signal ids are deterministic
and the stores upsert by id, so the signal is still stored once.

The file is tiny and replaced atomically (write, fsync, rename); a missing, unreadable or
foreign file means "no mark" (a first start), never a failure to start.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import trio
from loguru import logger

from kernels.timeframes import TimeframeError, bar_open, timeframe_ms
from vyx.store.api import Store
from vyx.store.errors import StoreClosed

FILE_NAME = "screened.json"
_VERSION = 1


def marks_text(marks: Mapping[str, int]) -> str:
    """Marks as a person reads them: ``5m 2026-01-02 03:05 UTC, ...``, shortest first."""
    return ", ".join(
        f"{tf} {time.strftime('%Y-%m-%d %H:%M', time.gmtime(ms / 1000))} UTC"
        for tf, ms in sorted(marks.items(), key=lambda kv: timeframe_ms(kv[0]))
    )


def load_marks(data_dir: Path) -> dict[str, int]:
    """The marks saved in ``data_dir`` (timeframe → close time, epoch ms); empty when none."""
    path = data_dir / FILE_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring {}: {} (bars missed while down are not screened)", path, exc)
        return {}
    marks = raw.get("closed_upto") if isinstance(raw, dict) else None
    if not isinstance(marks, dict) or raw.get("version") != _VERSION:
        logger.warning("ignoring {}: not a screened-marks file of version {}", path, _VERSION)
        return {}
    out: dict[str, int] = {}
    for tf, close in marks.items():
        try:
            aligned = isinstance(close, int) and close > 0 and bar_open(tf, close) == close
        except TimeframeError:
            continue
        if aligned:
            out[tf] = close
    return out


def save_marks(data_dir: Path, marks: Mapping[str, int]) -> None:
    """Replace the marks file atomically (a crash leaves the old file or the new one)."""
    path = data_dir / FILE_NAME
    tmp = path.with_suffix(".tmp")
    body = json.dumps({"version": _VERSION, "closed_upto": dict(sorted(marks.items()))})
    # Private like every file of the data directory (vyx.daemon.startup).
    with os.fdopen(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class MarkKeeper:
    """Writes the screener's progress once the store holds the signals it produced.

    Args:
        data_dir: where ``screened.json`` is.
        store: flushed before a mark moves.
        saved: what the file holds (:func:`load_marks` at start).
        handed_on: returns once every batch of signals the screener handed on so far is in
            the store's queue (the daemon's delivery queues them in between:
            :meth:`~vyx.daemon.delivery.Delivery.flush`); None when the screener's sink
            queues them itself.
    """

    def __init__(
        self,
        data_dir: Path,
        store: Store,
        saved: Mapping[str, int],
        handed_on: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.store = store
        self.handed_on = handed_on
        #: The screener's live progress (timeframe → close time of the newest bar handed on),
        #: as its last :meth:`poke` gave it.
        self.progress: Mapping[str, int] = {}
        #: What the file holds (:func:`load_marks` at start).
        self.saved = dict(saved)
        #: Set by the screener after each screen.
        self.changed = trio.Event()

    def poke(self, progress: Mapping[str, int]) -> None:
        """A screen handed its signals on (``progress``: the screener's, live): the mark may
        move (:attr:`ScreenerHooks.on_progress <vyx.screener.service.ScreenerHooks>`)."""
        self.progress = progress
        self.changed.set()

    async def save(self) -> None:
        """Wait until the store holds what was handed on so far, then move the marks."""
        snapshot = {tf: close for tf, close in self.progress.items() if close > 0}
        if not snapshot or snapshot == self.saved:
            return
        if self.handed_on is not None:
            await self.handed_on()
        await self.store.flush()
        merged = {**self.saved, **snapshot}
        try:
            await trio.to_thread.run_sync(save_marks, self.data_dir, merged)
        except OSError as exc:
            logger.warning("could not save screening progress: {}", exc)
            return
        self.saved = merged

    async def run(self, period_s: float = 1.0) -> None:
        """Save after screens, at most once per ``period_s``, until cancelled."""
        while True:
            await self.changed.wait()
            self.changed = trio.Event()
            try:
                await self.save()
            except StoreClosed:
                return
            await trio.sleep(period_s)
