"""The outcomes service: signals' outcomes followed as bars close, stored and pushed.

- A confirmed signal is followed as it is delivered (:meth:`Outcomes.follow`, awaited by the
  delivery right after the signal is queued for the store): its ``signal_outcomes`` row (no
  bars yet) is queued with it, so a restart finds every open signal in the store.
- After each screen (:meth:`Outcomes.screened`, a screener listener) and each analysis with key
  levels (:meth:`Outcomes.analysed`) the service's task steps the open signals of that
  timeframe through the rings, stores the rows that moved (after the first bar, at the first
  touch and when complete) and pushes them, one ``signal_outcomes`` message a batch; a
  complete one counts in its trader's record (with the record in the message, in ``/metrics``
  and the traders' state).
- At start the task restores, from the store, the open outcomes (followed again through the
  rings from their signal's bar: a restart in the middle of a horizon loses nothing) and the
  newest complete ones (the records) — in cloud mode once Supabase holds the rows the last
  run left in the spool; a store that is down is retried, never blocking the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from kernels.outcomes import Levels
from vyx.outcomes.live import LiveOutcomes, outcome_from_row
from vyx.outcomes.records import RESTORE_LIMIT, Records
from vyx.outcomes.reports import Reports
from vyx.server.batches import signal_outcomes
from vyx.signal import Signal
from vyx.store.api import Store
from vyx.store.errors import StoreError

if TYPE_CHECKING:
    from kernels.executor import ScreenResult
    from vyx.telemetry.metrics import Metrics

Broadcast = Callable[[Mapping[str, Any]], object]
#: Open outcomes read back at start (at most the tracker's rows).
RESTORE_OPEN = 8_192
#: Seconds between attempts to read the store at start (while it fails).
RESTORE_RETRY_S = 2.0


class Outcomes:
    """Handle of the outcomes service (module docstring)."""

    def __init__(
        self,
        live: LiveOutcomes,
        records: Records,
        store: Store,
        broadcast: Broadcast,
        *,
        user_id: str,
        direction_of: Callable[[str], str],
        now_ms: Callable[[], int],
        metrics: Metrics | None = None,
    ) -> None:
        self.live = live
        self.records = records
        self.store = store
        self.broadcast = broadcast
        self.user_id = user_id
        self.direction_of = direction_of
        self.now_ms = now_ms
        self.metrics = metrics
        self._timeframes: set[str] = set()
        self._levels: dict[str, Mapping[str, Any]] = {}
        self._wake = trio.Event()
        #: Set once the store's outcomes were read back (or there was nothing to read).
        self.restored = trio.Event()

    # -- inputs ---------------------------------------------------------------------------------

    async def follow(self, signals: Sequence[Signal]) -> None:
        """Follow confirmed ``signals``: their rows are queued for the store before returning."""
        updates = self.live.follow_all([(s, self.direction_of(s.trader_id)) for s in signals])
        await self._publish(updates)
        if self.metrics is not None:
            self.metrics.outcomes_unscored.set(self.live.refused + self.live.lost)

    def screened(self, result: ScreenResult) -> None:
        """A screen of ``result.timeframe`` ran: its new bars are in the rings."""
        self._timeframes.add(result.timeframe)
        self._wake.set()

    def analysed(self, message: Mapping[str, Any]) -> None:
        """An ``analysis_completed`` message: its key levels, if any, score the signal."""
        data = message.get("data")
        if message.get("type") != "analysis_completed" or not isinstance(data, Mapping):
            return
        levels = data.get("keyLevels")
        if isinstance(levels, Mapping) and isinstance(data.get("signalId"), str):
            self._levels[data["signalId"]] = levels
            self._wake.set()

    # -- the task -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Restore from the store, then step on every screen until cancelled."""
        task_status.started()
        await self.restore()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self.catch_up()

    async def catch_up(self) -> None:
        """Step what the screens and analyses since the last call left; store and push."""
        updates: list[Reports] = []
        levels, self._levels = self._levels, {}
        for signal_id, key_levels in levels.items():
            updates.append(self._analysis_levels(signal_id, key_levels))
        timeframes, self._timeframes = self._timeframes, set()
        for tf in sorted(timeframes):
            updates.append(self.live.advance(tf))
        await self._publish(Reports.concat(updates), progressed=True)

    def _analysis_levels(self, signal_id: str, key_levels: Mapping[str, Any]) -> Reports:
        followed = self.live.open.get(signal_id)
        if followed is None:
            return Reports.empty()
        o = self.live.tracker.outcome(followed.row)
        targets = key_levels.get("takeProfit")
        stop = key_levels.get("stopLoss")
        target = targets[0] if isinstance(targets, list) and targets else None
        if not isinstance(stop, int | float) or not isinstance(target, int | float):
            return Reports.empty()
        levels = Levels.checked(o.entry, o.direction, float(stop), float(target))
        return Reports.empty() if levels is None else self.live.set_levels(signal_id, levels)

    async def _publish(self, updates: Reports, *, progressed: bool = False) -> None:
        """Store and push ``updates`` (``progressed``: of signals followed before, whose rows
        were saved): their rows and messages built from the batch's arrays."""
        if not len(updates):
            return
        now = self.now_ms()
        await self.store.save_outcomes(updates.rows(now), progressed=progressed)
        # A trader's record is summed up once per batch (a close's), with all its complete
        # signals of the batch: every one's message carries that updated record.
        traders, opened, rows = updates.completed()
        self.records.add_rows(traders, opened, rows)
        records = {t: self.records.to_json(t) for t in dict.fromkeys(traders)}
        for trader_id in records:
            self._observe(trader_id)
        # One message per browser for the whole batch (older browsers: one per outcome); a
        # signal just followed is news only to the store.
        datas = updates.message_datas(records)
        for message in signal_outcomes(datas):
            self.broadcast(message)
        if self.metrics is not None:
            self.metrics.outcomes_open.set(len(self.live))
            self.metrics.outcomes_unscored.set(self.live.refused + self.live.lost)

    def _observe(self, trader_id: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_record(trader_id, self.records.whole(trader_id))

    async def restore(self) -> None:
        """Read the store's open and complete outcomes back (retrying while it is down)."""
        while True:
            try:
                pending = await self.store.load_outcomes(
                    self.user_id, complete=False, limit=RESTORE_OPEN
                )
                done = await self.store.load_outcomes(
                    self.user_id, complete=True, limit=RESTORE_LIMIT
                )
                break
            except StoreError as exc:
                logger.warning("outcomes: cannot read the store yet ({}); retrying", exc)
            await trio.sleep(RESTORE_RETRY_S)
        self.live.restore(pending)
        self.records.restore(_complete(done))
        for trader_id in self.records.traders:
            self._observe(trader_id)
        if pending or done:
            logger.info(
                "outcomes: {} open signals followed again, {} complete ones in the records",
                len(pending),
                len(done),
            )
        self.restored.set()
        self._timeframes.update(str(r["interval"]) for r in pending)
        self._wake.set()


def _complete(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, Any]]:
    found = []
    for row in rows:
        try:
            found.append((str(row["trader_id"]), int(row["bar_open_time"]), outcome_from_row(row)))
        except (KeyError, TypeError, ValueError):
            logger.warning("outcomes: a stored row cannot be read: {}", row.get("signal_id"))
    return found
