"""The browser's authoring requests, answered by the daemon: ``trader_draft``, ``trader_check``
and the ``chart_data`` that shows a signal (or a preview's) with the trader's indicators.

::

    trader_draft {words, timeframe?} ──► Drafter (model or phrasebook) ──► Draft ──► preview
    trader_check {filter, timeframe?, name?, preview?} ──► check_proposal ──► Draft (──► preview)
                                                              │ or the compiler's problems
                                                              ▼ (line:col, as the user types)
    answers: result_message / preview_message (camelCase), never a change: trader_upsert saves

Nothing here runs on the event loop or the screening path: compiling and the preview backtest
run in worker threads, at most :data:`CPU_WORKERS` at once for every browser together, and at
most :data:`DRAFTS` drafts wait on a drafter at once (a model's answer may take seconds). The
filter budget is the compiler's (the same :data:`~kernels.lang.BUDGET` the screener installs
with); the timeframes allowed are those the daemon streams (its rings).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from kernels.program import TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import TIMEFRAME_MS
from vyx.authoring.draft import Draft, Drafter, Problem, Proposal, check_proposal
from vyx.authoring.messages import draft_message, preview_message, problem_message, result_message
from vyx.authoring.preview import PREVIEW_BARS, preview_bars, snapshot
from vyx.charts import CHART_BARS, ChartRequest, chart_bars, timeframes_of

if TYPE_CHECKING:
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.settings import AnalyzerConfig

#: Compiles and previews running at once (worker threads), for every browser together.
CPU_WORKERS = 1
#: Drafts waiting on a drafter at once, for every browser together.
DRAFTS = 2


@attrs.define
class AuthoringDesk:
    """Answers ``trader_draft`` and ``trader_check`` over the daemon's rings.

    Args:
        rings: timeframe -> ring (the preview's bars; their timeframes are the ones allowed).
        drafter: the drafter to use now (the model when a key is set, else the phrasebook).
        default_timeframe: a draft's timeframe when neither the request nor the words say one.
        preview_bars: bars per symbol and timeframe a preview reads (the newest).
        cooldown_bars: the machine's cooldown (``SIGNAL_COOLDOWN_BARS``): a preview fires as
            the screener would.
    """

    rings: Mapping[str, RingBuffer]
    drafter: Callable[[], Drafter]
    default_timeframe: str = "5m"
    preview_bars: int = PREVIEW_BARS
    cooldown_bars: int = 0
    cpu: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(CPU_WORKERS))
    drafts: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(DRAFTS))

    @property
    def timeframes(self) -> tuple[str, ...]:
        """The timeframes a trader may use here, shortest first."""
        return tuple(sorted(self.rings, key=TIMEFRAME_MS.__getitem__))

    def _timeframe(self, asked: str | None) -> str:
        if asked:
            return asked
        if self.default_timeframe in self.rings or not self.rings:
            return self.default_timeframe
        return self.timeframes[0]

    async def _preview(self, draft: Draft, cooldown: int | None = None) -> dict[str, Any]:
        # The rings are copied here, on the Trio thread that writes them; then a worker backtests.
        data = snapshot(self.rings, draft.timeframes, self.preview_bars)
        bars = self.cooldown_bars if cooldown is None else cooldown
        run = functools.partial(preview_bars, draft, data, cooldown_bars=bars)
        result = await trio.to_thread.run_sync(run, limiter=self.cpu, abandon_on_cancel=True)
        return preview_message(result)

    async def draft(self, words: str, timeframe: str | None = None) -> dict[str, Any]:
        """``trader_draft_result``: ``{ok, draft, problems, rounds, tokens, unavailable,
        preview, timeframes}`` (``preview`` null without a draft)."""
        async with self.drafts:
            result = await self.drafter().draft(
                words, timeframe=self._timeframe(timeframe), allowed_timeframes=self.timeframes
            )
        answer = result_message(result)
        answer["unavailable"] = result.unavailable
        answer["preview"] = await self._preview(result.draft) if result.draft else None
        answer["timeframes"] = list(self.timeframes)
        return answer

    async def check(
        self,
        text: str,
        *,
        timeframe: str | None = None,
        name: str | None = None,
        preview: bool = False,
        cooldown: int | None = None,
    ) -> dict[str, Any]:
        """``trader_check_result``: ``{ok, draft, problems, preview, timeframes}``; ``problems``
        are the compiler's (``{message, line, column}``, 1-based) and ``preview`` is null
        unless asked for and the filter compiles (it fires at most once per ``cooldown``
        bars on a symbol; the machine's cooldown when None)."""
        proposal = Proposal(name or "draft", self._timeframe(timeframe), text)
        run = functools.partial(check_proposal, proposal, allowed_timeframes=self.timeframes)
        outcome: Draft | list[Problem] = await trio.to_thread.run_sync(
            run, limiter=self.cpu, abandon_on_cancel=True
        )
        if isinstance(outcome, Draft):
            return {
                "ok": True,
                "draft": draft_message(outcome),
                "problems": [],
                "preview": await self._preview(outcome, cooldown) if preview else None,
                "timeframes": list(self.timeframes),
            }
        return {
            "ok": False,
            "draft": None,
            "problems": [problem_message(p) for p in outcome],
            "preview": None,
            "timeframes": list(self.timeframes),
        }

    async def chart(
        self,
        symbol: str,
        trader: TraderDef | None,
        *,
        timeframe: str | None = None,
        time: int | None = None,
        bars: int | None = None,
    ) -> dict[str, Any]:
        """``chart_data_result`` (see :func:`vyx.charts.chart_bars`): ``symbol``'s candles of
        ``timeframe`` (the trader's by default) around ``time`` with ``trader``'s indicators,
        computed over every bar the rings hold of that symbol."""
        tf = timeframe or (trader.timeframe if trader is not None else self._timeframe(None))
        request = ChartRequest(symbol, trader, tf, time, bars or CHART_BARS)
        if tf not in self.rings:
            return chart_bars(request, {}) | {"note": f"{tf} is not streamed here"}
        # Which timeframes the filter reads needs a compile: off the event loop too.
        tfs = await trio.to_thread.run_sync(
            timeframes_of, trader, tf, limiter=self.cpu, abandon_on_cancel=True
        )
        # The whole ring of this one symbol: indicators warm up as the live screen's did.
        data = snapshot(self.rings, tfs, 1 << 30, symbols=(symbol,))
        run = functools.partial(chart_bars, request, data)
        return await trio.to_thread.run_sync(run, limiter=self.cpu, abandon_on_cancel=True)


def drafter_for(analyzer: ConcurrentAnalyzer | None, settings: AnalyzerConfig) -> Drafter:
    """Who drafts traders from words: the model when a key is set (sharing the analyzer's
    limits), else the offline phrasebook."""
    from vyx.authoring.phrasebook import OfflineDrafter

    if analyzer is None or not settings.enabled or analyzer.gate.client is None:
        return OfflineDrafter()
    from vyx.authoring.gemini_drafter import GeminiDrafter

    return GeminiDrafter(analyzer.gate, settings.model)
