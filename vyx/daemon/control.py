"""The daemon's side of the browser protocol: commands, the connect snapshot, trader changes.

Trader changes from any source (browser, ``config_update``, the traders file or table) arrive
admitted, their filters compiled once (:func:`vyx.traders.admit`; the browser's rows are
admitted here, in a worker thread), and go through :meth:`Control.apply`: swap the screener's
plan without a restart (the compiled filters linked into it), report every trader that does
not run (log, browser ``error`` naming the trader with line:column) and announce the new
states.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import trio
from loguru import logger

from kernels.program import TraderDef
from vyx.authoring.desk import AuthoringDesk
from vyx.daemon.file_edits import TradersFileEdits
from vyx.daemon.muting import MuteKeeper
from vyx.history import history_page
from vyx.screener.install import InstallFailed
from vyx.screener.service import Screener
from vyx.server.interface import CommandRejected, Snapshot
from vyx.server.protocol import (
    ChartData,
    Command,
    ConfigUpdate,
    ErrorCode,
    ForceSync,
    PauseExecution,
    ResumeExecution,
    SetMute,
    SignalHistory,
    TraderCheck,
    TraderDraft,
    TraderRemove,
    TraderUpsert,
    clip,
    error,
    trader_removed,
    trader_updated,
)
from vyx.store.api import Store
from vyx.store.errors import StoreError, TraderNotOwned
from vyx.traders import BrowserEdit, TraderInfo, TraderRejected, from_mapping, to_record

Broadcast = Callable[[Mapping[str, Any]], object]
#: Reloads every trader from its source (file or table); returns them and the rejected ones.
Reload = Callable[[], Awaitable[tuple[list[TraderInfo], list[TraderRejected]]]]


def _no_broadcast(message: Mapping[str, Any]) -> None:
    """No browsers (a control without a server)."""


@attrs.define(eq=False)
class RunningTraders:
    """The traders the daemon runs now and why the others do not: written by :class:`Control`
    (one change at a time), read by the delivery (a signal's analysis settings) and status."""

    #: Trader id -> the trader, every one of the last applied set (enabled or not).
    traders: dict[str, TraderInfo] = attrs.Factory(dict)
    #: Trader id -> why it does not run (clipped for the browser).
    errors: dict[str, str] = attrs.Factory(dict)
    #: Trader id -> its newest delivered signal (``{symbol, time}``), for the traders table.
    last_signals: dict[str, dict[str, Any]] = attrs.Factory(dict)

    def direction(self, trader_id: str) -> str:
        """The direction of a trader's trades (long when it is not running any more)."""
        info = self.traders.get(trader_id)
        return info.definition.direction if info is not None else "long"


def _admit_rows(
    rows: Iterable[Mapping[str, Any]],
) -> tuple[list[TraderInfo], list[TraderRejected]]:
    """``config_update``'s traders admitted (blocking: each filter is compiled)."""
    infos, rejected = [], []
    for row in rows:
        try:
            infos.append(from_mapping(row))
        except TraderRejected as exc:
            rejected.append(exc)
    return infos, rejected


def _without_timings(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in ("lastRunMs", "lastDurationMs")}


class Control:
    """Traders, browser commands and what a browser sees on connect."""

    def __init__(
        self,
        *,
        user_id: str,
        store: Store,
        screener: Screener,
        reload: Reload,
        persist_browser_edits: bool,
        status: Callable[[], Mapping[str, Any]],
        broadcast: Broadcast = _no_broadcast,
        running: RunningTraders | None = None,
        recent: deque[dict[str, Any]] | None = None,
        desk: AuthoringDesk | None = None,
        on_traders: Callable[[Mapping[str, TraderInfo]], None] | None = None,
        record: Callable[[str], Mapping[str, Any]] | None = None,
        mutes: MuteKeeper | None = None,
        file_edits: TradersFileEdits | None = None,
        edits_note: str | None = None,
    ) -> None:
        """Args: ``broadcast`` the browsers' broadcast; ``running`` the running traders shared
        with the delivery (a fresh set when None); ``recent`` the delivered signals a
        connecting browser gets, newest first (the delivery's; an empty one when None);
        ``desk`` answers the authoring requests (None: they are refused as unavailable);
        ``on_traders`` told each new set of traders (the notifier: their alert settings);
        ``record`` a trader's outcome record (``{"all", "recent"}``) for its message;
        ``mutes`` the user's mutes (None: ``mute`` is refused as unavailable); ``file_edits``
        writes a browser's trader edits to the traders file they come from (when
        ``persist_browser_edits`` is off; None: they run until a restart, ``edits_note`` says
        why)."""
        self.file_edits = file_edits
        self.edits_note = edits_note
        self.record = record
        self.mutes = mutes
        self.user_id = user_id
        self.store = store
        self.screener = screener
        self.reload = reload
        self.persist = persist_browser_edits
        self.status = status
        self.running = running if running is not None else RunningTraders()
        self.recent: deque[dict[str, Any]] = recent if recent is not None else deque(maxlen=100)
        self.broadcast: Broadcast = broadcast
        self.desk = desk
        #: Per trader: what browsers were last told of it (timings aside).
        self._announced: dict[str, dict[str, Any]] = {}
        self.on_traders = on_traders
        self._changing = trio.Lock()

    @property
    def traders(self) -> dict[str, TraderInfo]:
        """The last applied traders (:attr:`RunningTraders.traders`)."""
        return self.running.traders

    @traders.setter
    def traders(self, traders: dict[str, TraderInfo]) -> None:
        self.running.traders = traders

    @property
    def errors(self) -> dict[str, str]:
        """Why traders do not run (:attr:`RunningTraders.errors`)."""
        return self.running.errors

    @errors.setter
    def errors(self, errors: dict[str, str]) -> None:
        self.running.errors = errors

    # -- traders ------------------------------------------------------------------------------

    async def apply(
        self, traders: Iterable[TraderInfo], rejected: Iterable[TraderRejected] = ()
    ) -> dict[str, str]:
        """Run exactly ``traders`` (the enabled ones); returns trader id -> problem.

        A trader that cannot run is reported (log, browser ``error``) and the others run.
        Changes are made one at a time (a change made from the running set sees the last one).

        Raises:
            CommandRejected: the set could not be installed; the running traders are unchanged.
        """
        async with self._changing:
            return await self._apply(traders, rejected)

    async def _apply(
        self, traders: Iterable[TraderInfo], rejected: Iterable[TraderRejected] = ()
    ) -> dict[str, str]:
        wanted = {t.id: t for t in traders}
        try:
            problems = await self.screener.set_traders(
                [t.executable for t in wanted.values() if t.enabled]
            )
        except InstallFailed as exc:
            logger.warning("trader change refused: {}", exc)
            raise CommandRejected(
                f"{exc}; the running traders are unchanged", ErrorCode.TRADER_ERROR
            ) from None
        before, self.traders = self.traders, wanted
        if self.on_traders is not None:
            self.on_traders(wanted)
        for r in rejected:
            problems[r.trader_id] = r.reason
        problems = {tid: clip(problem) for tid, problem in problems.items()}
        self.errors = problems
        for tid, problem in problems.items():
            name = wanted[tid].definition.name if tid in wanted else tid
            logger.warning("trader {!r} ({}) does not run:\n{}", name, tid, problem)
            self.broadcast(
                error(f"trader {name!r}: {problem}", ErrorCode.TRADER_ERROR, trader_id=tid)
            )
        for tid in before.keys() - wanted.keys():
            self._announced.pop(tid, None)
            self.broadcast(trader_removed(tid))
        for info in wanted.values():
            self.broadcast(self._announce(info))
        return problems

    def _announce(self, info: TraderInfo) -> dict[str, Any]:
        message = self.trader_message(info)
        self._announced[info.id] = _without_timings(message)
        return trader_updated(message)

    def trader_changes(self) -> list[dict[str, Any]]:
        """``trader_updated`` of every trader whose state changed since browsers were last told
        (matches, warm-up, running, last signal; not the screens' timings)."""
        return [
            self._announce(info)
            for info in self.traders.values()
            if self._announced.get(info.id) != _without_timings(self.trader_message(info))
        ]

    def trader_message(self, info: TraderInfo) -> dict[str, Any]:
        """A trader with its live state for the browser."""
        stats = self.screener.statistics().traders.get(info.id)
        if info.id in self.errors:
            state: dict[str, Any] = {"state": "error", "error": self.errors[info.id]}
        elif not info.enabled:
            state = {"state": "disabled"}
        elif stats is None:
            state = {"state": "starting"}
        else:
            state = {
                "state": "warming_up" if stats.warming else "running",
                "lastRunMs": stats.last_run_ms,
                "lastDurationMs": round(stats.last_duration_ms, 3),
                "signals": stats.signals,
                "matching": stats.matching,
                "warmingSymbols": stats.warming,
                "barsNeeded": stats.bars_needed,
                # Bars of its own timeframe it needs in all (a progress bar while warming up).
                "warmupBars": self.screener.warmup(info.id).get(info.definition.timeframe, 0),
            }
        state["lastSignal"] = self.running.last_signals.get(info.id)
        if self.record is not None:
            state["record"] = self.record(info.id)
        message = info.to_message(state)
        # Whatever was sent, the echo stays small (the full text is in the store).
        message["name"] = clip(message["name"], 300)
        message["filter"] = {**message["filter"], "code": clip(info.definition.filter, 6000)}
        return message

    # -- signals ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Recent signals, traders and status for a browser that just connected."""
        return Snapshot(
            signals=list(self.recent),
            traders=[self.trader_message(t) for t in self.traders.values()],
            status=self._status(),
        )

    def _status(self) -> dict[str, Any]:
        status = dict(self.status())
        # False: the traders come from a source a browser's edit is not written to (vyx demo,
        # a traders file that cannot be written): it runs until the machine restarts (the
        # page says so in its editor, with editsNote when there is a reason to give).
        status["editsKept"] = self.persist or self.file_edits is not None
        if not status["editsKept"] and self.edits_note:
            status["editsNote"] = self.edits_note
        if self.mutes is not None:
            status["mutes"] = self.mutes.mutes.to_message()
        return status

    # -- browser commands ---------------------------------------------------------------------

    async def handle(self, command: Command) -> Mapping[str, Any] | None:
        """Carry out a validated browser command (None) or answer a request (its reply's data);
        raises :class:`CommandRejected`."""
        match command:
            case TraderDraft() | TraderCheck() | ChartData():
                return await self._author(command)
            case SignalHistory():
                try:
                    with trio.fail_after(20):
                        return await history_page(
                            self.store,
                            self.user_id,
                            after=command.after,
                            trader_id=command.trader_id,
                            symbol=command.symbol,
                            limit=command.limit,
                        )
                except (StoreError, trio.TooSlowError):
                    raise CommandRejected(
                        "the signal history cannot be read now", ErrorCode.UNAVAILABLE
                    ) from None
            case PauseExecution():
                self.screener.pause()
                logger.info("screening paused from the browser")
            case ResumeExecution():
                self.screener.resume()
                logger.info("screening resumed from the browser")
            case ForceSync():
                with trio.fail_after(10):
                    await self.store.flush()
            case ConfigUpdate(traders=None):
                traders, rejected = await self.reload()
                await self.apply(traders, rejected)
            case ConfigUpdate(traders=rows) if rows is not None:
                infos, rejected = await trio.to_thread.run_sync(
                    _admit_rows, rows, abandon_on_cancel=True
                )
                await self.apply(infos, rejected)
            case TraderUpsert(trader=row):
                await self._upsert(row)
            case SetMute() if self.mutes is not None:
                await self.mutes.set(command, self.traders)
            case TraderRemove(trader_id=tid):
                async with self._changing:
                    if tid not in self.traders:
                        raise CommandRejected(
                            f"no trader {tid!r}", ErrorCode.TRADER_ERROR, trader_id=tid
                        )
                    if self.persist:
                        await self._persist(
                            self.store.delete_trader(tid, user_id=self.user_id), tid
                        )
                    elif self.file_edits is not None:
                        await self.file_edits.remove(tid)
                    await self._apply(t for k, t in self.traders.items() if k != tid)
                    if self.mutes is not None:
                        # Deleted: its mute goes too. A trader that leaves the set otherwise
                        # (disabled: a reload lists only enabled ones) keeps it.
                        await self.mutes.forget_traders([tid])
            case _:
                raise CommandRejected(f"{command.TYPE} is not supported", ErrorCode.UNAVAILABLE)
        return None

    async def _author(self, request: TraderDraft | TraderCheck | ChartData) -> Mapping[str, Any]:
        """A draft, a check or a chart (nothing changes: ``trader_upsert`` saves)."""
        if self.desk is None:
            raise CommandRejected(f"{request.TYPE} is not available", ErrorCode.UNAVAILABLE)
        if isinstance(request, TraderDraft):
            return await self.desk.draft(request.words, request.timeframe)
        tid = request.trader_id
        # Only this machine's own traders are edited from here (ownership, as for upserts).
        if tid is not None and tid not in self.traders:
            raise CommandRejected(f"no trader {tid!r}", ErrorCode.TRADER_ERROR, trader_id=tid)
        if isinstance(request, ChartData):
            trader = self.traders[tid].definition if tid is not None else None
            if trader is None and request.filter:
                trader = TraderDef("chart", request.filter, request.timeframe or "5m")
            return await self.desk.chart(
                request.symbol,
                trader,
                timeframe=request.timeframe,
                time=request.time,
                bars=request.bars,
            )
        return await self.desk.check(
            request.filter,
            timeframe=request.timeframe,
            name=request.name,
            preview=request.preview,
            cooldown=request.cooldown_bars,
        )

    async def _upsert(self, row: Mapping[str, Any]) -> None:
        """Add or edit a trader from a browser; its alert settings and cooldown stay unless the
        browser set them (``trader.notify``, ``trader.cooldownBars``): an edit never silently
        resets them."""
        try:
            edit = BrowserEdit.of(row)
            # Admission compiles the filter (once): off the event loop.
            info = await trio.to_thread.run_sync(from_mapping, row, abandon_on_cancel=True)
        except TraderRejected as exc:
            raise CommandRejected(
                str(exc), ErrorCode.TRADER_ERROR, trader_id=exc.trader_id
            ) from None
        # An edit that cannot run is refused; the running version stays.
        problem = await self.screener.check(info.executable)
        if problem is not None:
            raise CommandRejected(
                f"trader {info.definition.name!r} {problem}",
                ErrorCode.TRADER_ERROR,
                trader_id=info.id,
            )
        async with self._changing:
            info = edit.apply(info, self.traders.get(info.id))
            if self.persist:  # first: the store refuses another user's trader id
                await self._persist(
                    self.store.upsert_trader(to_record(info, self.user_id, edit)), info.id
                )
            elif self.file_edits is not None:  # first: a write refused changes nothing
                await self.file_edits.save(info)
            await self._apply({**self.traders, info.id: info}.values())

    @staticmethod
    async def _persist(write: Awaitable[None], trader_id: str) -> None:
        """A trader write on behalf of a browser; its refusal is the browser's error."""
        try:
            await write
        except TraderNotOwned as exc:
            raise CommandRejected(str(exc), ErrorCode.TRADER_ERROR, trader_id=trader_id) from None
        except StoreError as exc:
            raise CommandRejected(
                f"the trader could not be saved: {exc}", ErrorCode.UNAVAILABLE, trader_id=trader_id
            ) from None
