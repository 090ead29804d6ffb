"""The ConcurrentAnalyzer: signals in, verdicts out, never in the screener's way.

::

    screener ──submit()──► bounded priority queue ──► N workers (N = max concurrency)
      (sync, O(log n),        (full: drop, counted)     │ inputs: Vyx kernels over the candles
       never waits)                                     │ slot: breaker · RPM window · token budget
                                                        │ generateContent (deadline, retries)
                                                        ▼
                                  store.save_analysis(row) + broadcast(analysis_completed)

:meth:`ConcurrentAnalyzer.submit` decides admission on the spot (confirmed signal, trader with
``auto_analyze_signals``, first time for this signal id, trader's ``aiAnalysisLimit`` and the
machine's token budget not spent, room in the queue) and returns. Everything slow — indicators,
rate waits, the API, the store — happens in the workers. Every call goes through the
:class:`~vyx.analysis.gate.GeminiGate` (breaker, rate window, token budget, retries), whose
decisions are the pure objects of :mod:`vyx.analysis.policy`.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from google.genai import types
from loguru import logger

from vyx.analysis import gemini
from vyx.analysis.gate import GeminiGate, wall_ms
from vyx.analysis.inputs import AnalysisContext
from vyx.analysis.journal import Journal, JournalWriter, SavedJob
from vyx.analysis.offline import OFFLINE_MODEL, offline_verdict
from vyx.analysis.policy import GEMINI_RETRY, DailyCounts
from vyx.analysis.prompt import (
    SYSTEM_INSTRUCTION,
    AnalysisInputs,
    build_inputs,
    estimate_tokens,
    render_prompt,
)
from vyx.analysis.rows import Result, analysis_row, completed_message
from vyx.analysis.stats import AnalyzerState, AnalyzerStatistics, Percentiles
from vyx.analysis.verdict import InvalidAnswer, Usage, Verdict, answer_text, parse_verdict
from vyx.breaker import Breaker
from vyx.retry import RetryPolicy
from vyx.settings import AnalyzerConfig
from vyx.signal import Signal
from vyx.store.api import Store
from vyx.store.errors import StoreError
from vyx.store.outbox import AlertRow

Broadcast = Callable[[dict[str, Any]], None]


@attrs.frozen
class AnalyzerOptions:
    """Knobs beyond the environment's :class:`~vyx.settings.AnalyzerConfig`."""

    queue_size: int = 256
    #: Candles written into the prompt.
    prompt_candles: int = 50
    retry: RetryPolicy = GEMINI_RETRY
    breaker: Breaker = attrs.field(factory=Breaker)
    generation: gemini.GenerationSettings = attrs.field(factory=gemini.GenerationSettings)
    #: Re-asks after an invalid answer before recording a failed analysis.
    invalid_retries: int = 1
    #: Without an API key, run the offline analyst instead of staying disabled (``vyx demo``).
    offline: bool = False
    #: Signal ids remembered for "one analysis per signal id".
    remembered_ids: int = 50_000
    #: Where queued analyses are kept (:mod:`vyx.analysis.journal`; None: in memory only).
    journal: Path | None = None
    #: A kept job is resumed after a restart only this long after its signal was created.
    resume_within_s: float = 900.0
    #: The alerts owed for an analysis row (the notifier's), stored with it.
    alerts: Callable[[Mapping[str, Any], Signal], Sequence[AlertRow]] | None = None


@attrs.frozen(order=True)
class _Job:
    priority: int
    seq: int
    signal: Signal = attrs.field(order=False)
    context: AnalysisContext = attrs.field(order=False)
    queued_at: float = attrs.field(order=False)


@attrs.frozen
class _Answer:
    verdict: Verdict | None
    raw: str
    usage: Usage
    error: str | None = None
    #: The budget ran out before a call could be made.
    abandoned: bool = False


class ConcurrentAnalyzer:
    """See the module docstring. Start it with :func:`run_analyzer`; :meth:`submit` and
    :meth:`statistics` are called from the Trio thread."""

    def __init__(
        self,
        cfg: AnalyzerConfig,
        store: Store,
        broadcast: Broadcast,
        *,
        options: AnalyzerOptions = AnalyzerOptions(),
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.cfg = cfg
        self.options = options
        self._store = store
        self._broadcast = broadcast
        self._now_ms = now_ms
        self.mode: AnalyzerState = (
            "running" if cfg.enabled else "offline" if options.offline else "disabled"
        )
        self.model = OFFLINE_MODEL if self.mode == "offline" else cfg.model
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._wakeup = trio.lowlevel.ParkingLot()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._per_trader = DailyCounts()
        #: The breaker, RPM window and token budget of every Gemini call (share it to share
        #: the limits, e.g. with the trader drafter).
        self.gate = GeminiGate(cfg, breaker=options.breaker, now_ms=now_ms)
        self._config = gemini.request_config(SYSTEM_INSTRUCTION, options.generation)
        self._latency = Percentiles()
        self._queue_wait = Percentiles()
        self._count: collections.Counter[str] = collections.Counter()
        self._skipped: collections.Counter[str] = collections.Counter()
        self._usage = Usage()
        self._busy = 0
        self._last_error: str | None = None
        self._budget_warned_day = -1
        #: Set by :func:`run_analyzer` when ``options.journal`` is.
        self.journal: JournalWriter | None = None

    # -- the screener's side -------------------------------------------------------------------

    def submit(self, signal: Signal, context: AnalysisContext) -> bool:
        """Queue ``signal`` for analysis; never blocks. False when it was not queued: the
        analyzer is disabled, the signal is provisional, its trader does not auto-analyze, it
        was submitted before, the trader's daily limit or the token budget is spent, or the
        queue is full (see :meth:`statistics` for the counts by reason)."""
        self._count["submitted"] += 1
        reason = self._refusal(signal, context)
        if reason is not None:
            self._skipped[reason] += 1
            return False
        job = _Job(context.priority, next(self._seq), signal, context, trio.current_time())
        if not self._enqueue(job):
            return False
        if self.journal is not None:
            deadline = signal.created_at + round(self.options.resume_within_s * 1000)
            self.journal.add(SavedJob(signal, context, deadline))
        self._count["accepted"] += 1
        return True

    def _enqueue(self, job: _Job) -> bool:
        """Queue ``job`` (evicting a lower priority when full); False when it does not fit."""
        if len(self._heap) >= self.options.queue_size:
            worst = max(self._heap)
            self._count["dropped"] += 1
            if not job < worst:
                return False
            self._heap.remove(worst)
            heapq.heapify(self._heap)
            self._forget(worst)
            self._done(worst.signal.id)
        heapq.heappush(self._heap, job)
        self._remember(job.signal.id)
        self._per_trader.add(job.context.trader.id, self._now_ms())
        self._wakeup.unpark()
        return True

    def resume(self, saved: Sequence[SavedJob]) -> tuple[int, int]:
        """Queue again the jobs an earlier run kept (:mod:`vyx.analysis.journal`); those past
        their deadline are dropped. Returns (resumed, expired)."""
        now_ms = self._now_ms()
        for job in saved:
            if job.deadline_ms <= now_ms or job.signal.id in self._seen:
                self._count["expired"] += 1
                self._done(job.signal.id)
                continue
            queued = _Job(
                job.context.priority, next(self._seq), job.signal, job.context, trio.current_time()
            )
            if self._enqueue(queued):
                self._count["resumed"] += 1
            else:
                self._done(job.signal.id)
        return self._count["resumed"], self._count["expired"]

    def _done(self, signal_id: str) -> None:
        """The job of ``signal_id`` needs no resuming (stored, evicted, expired, abandoned)."""
        if self.journal is not None:
            self.journal.remove(signal_id)

    def _refusal(self, signal: Signal, context: AnalysisContext) -> str | None:
        if self.mode == "disabled":
            return "disabled"
        if signal.provisional:
            return "provisional"
        if not context.trader.auto_analyze:
            return "auto_analyze_off"
        if signal.id in self._seen:
            return "duplicate"
        now_ms = self._now_ms()
        limit = context.trader.ai_analysis_limit
        if limit is not None and self._per_trader.count(context.trader.id, now_ms) >= limit:
            return "trader_limit"
        if self.mode == "running" and self.gate.budget.exhausted(now_ms):
            self._warn_budget(now_ms)
            return "budget_exhausted"
        return None

    def _remember(self, signal_id: str) -> None:
        self._seen[signal_id] = None
        while len(self._seen) > self.options.remembered_ids:
            self._seen.popitem(last=False)

    def _forget(self, job: _Job) -> None:
        """An evicted job may be submitted again and does not count against its trader."""
        self._seen.pop(job.signal.id, None)
        self._per_trader.add(job.context.trader.id, self._now_ms(), -1)

    # -- statistics ----------------------------------------------------------------------------

    def state(self) -> AnalyzerState:
        """``disabled``, ``offline``, ``running``, ``circuit_open`` or ``budget_exhausted``."""
        if self.mode != "running":
            return self.mode
        if self.gate.budget.exhausted(self._now_ms()):
            return "budget_exhausted"
        return "circuit_open" if self.gate.breaker.state != "closed" else "running"

    def statistics(self) -> AnalyzerStatistics:
        """A snapshot (see :class:`~vyx.analysis.stats.AnalyzerStatistics`)."""
        c = self._count
        g = self.gate.counts
        now_ms = self._now_ms()
        return AnalyzerStatistics(
            state=self.state(),
            model=self.model,
            queue_depth=len(self._heap),
            queue_capacity=self.options.queue_size,
            busy=self._busy,
            in_flight=self.gate.in_flight,
            submitted=c["submitted"],
            accepted=c["accepted"],
            dropped=c["dropped"],
            skipped=dict(self._skipped),
            completed=c["completed"],
            failed=c["failed"],
            abandoned_budget=c["abandoned"],
            crashed=c["errors"],
            requests=g["requests"],
            rate_limited=g["rate_limited"],
            server_errors=g["server"],
            timeouts=g["timeout"],
            transport_errors=g["transport"],
            client_errors=g["client"],
            invalid_answers=c["invalid"],
            retries=g["retries"],
            tokens_today=self.gate.budget.used_today(now_ms),
            daily_token_budget=self.cfg.daily_token_budget,
            prompt_tokens=self._usage.prompt,
            output_tokens=self._usage.output + self._usage.thoughts,
            total_tokens=self._usage.total,
            latency_ms_p50=self._latency.quantile(0.5),
            latency_ms_p95=self._latency.quantile(0.95),
            queue_wait_ms_p95=self._queue_wait.quantile(0.95),
            requests_last_minute=self.gate.window.recent(trio.current_time()),
            requests_per_minute=self.cfg.requests_per_minute,
            breaker=self.gate.breaker.state,
            last_error=self._last_error or self.gate.last_error,
            resumed=c["resumed"],
            expired=c["expired"],
        )

    # -- workers -------------------------------------------------------------------------------

    async def worker(self) -> None:
        """Analyse queued signals one at a time, forever (run ``max_concurrency`` of these)."""
        while True:
            while not self._heap:
                await self._wakeup.park()
            job = heapq.heappop(self._heap)
            self._busy += 1
            try:
                await self._process(job)
            except Exception:  # a bug in one analysis must not stop the others (or the daemon)
                self._count["errors"] += 1
                logger.exception("analysis of signal {} crashed", job.signal.id)
                self._done(job.signal.id)
            finally:
                self._busy -= 1

    async def _process(self, job: _Job) -> None:
        started = trio.current_time()
        self._queue_wait.add((started - job.queued_at) * 1000)
        inputs = build_inputs(job.signal, job.context)
        if self.mode == "offline":
            answer = _Answer(offline_verdict(inputs), "", Usage())
        else:
            answer = await self._ask(inputs)
        if answer.abandoned:
            self._count["abandoned"] += 1
            self._done(job.signal.id)
            return
        latency_ms = round((trio.current_time() - started) * 1000)
        self._latency.add(latency_ms)
        raw = answer.raw
        if answer.verdict is not None and self.mode == "offline":
            raw = "offline analyst (no model call)"
        result = Result(
            inputs, self.model, answer.verdict, raw, latency_ms, answer.usage.total, answer.error
        )
        self._count["failed" if result.failed else "completed"] += 1
        row = analysis_row(result, self._now_ms())
        try:
            if self.options.alerts is None:
                await self._store.save_analysis(row)
            else:
                await self._store.save_analysis(row, self.options.alerts(row, job.signal))
            if self.journal is not None:  # kept until the store has the row for sure
                await self._store.flush()
        except StoreError as exc:  # kept in the journal: the next start tries again
            self._last_error = f"store: {exc}"
            logger.warning("analysis of signal {} not stored: {}", job.signal.id, exc)
            return
        self._done(job.signal.id)
        try:
            self._broadcast(completed_message(row))
        except Exception:  # the daemon's callable must not take a worker down
            logger.exception("broadcasting analysis_completed failed")

    async def _ask(self, inputs: AnalysisInputs) -> _Answer:
        """Call Gemini until a valid verdict, a terminal error or the end of the retries."""
        prompt = render_prompt(inputs, self.options.prompt_candles)
        estimate = estimate_tokens(SYSTEM_INSTRUCTION + prompt) + self._output_allowance()
        retry = self.options.retry
        invalid_left = self.options.invalid_retries
        used = Usage()
        while True:
            reply = await self.gate.request(self.model, prompt, self._config, estimate, retry)
            retry = reply.retry
            used += reply.usage
            self._usage += reply.usage
            if reply.errors:
                self._last_error = reply.errors[-1].message
            if reply.abandoned:
                self._warn_budget(self._now_ms())
                return _Answer(None, "", used, "daily token budget exhausted", abandoned=True)
            if reply.response is None:
                last = reply.errors[-1]
                return _Answer(None, last.raw or last.message, used, last.message)
            try:
                return _Answer(
                    parse_verdict(answer_text(reply.response)), _text_of(reply.response), used
                )
            except InvalidAnswer as bad:
                self._count["invalid"] += 1
                self._last_error = f"invalid answer: {bad.reason}"
                if invalid_left > 0:
                    invalid_left -= 1
                    continue
                return _Answer(None, bad.raw, used, f"invalid answer: {bad.reason}")

    def _output_allowance(self) -> int:
        gen = self.options.generation
        return gen.max_output_tokens + max(0, gen.thinking_budget or 0)

    def _warn_budget(self, now_ms: int) -> None:
        day = now_ms // 86_400_000
        if day != self._budget_warned_day:
            self._budget_warned_day = day
            logger.warning(
                "daily Gemini token budget of {} spent; no analyses until 00:00 UTC",
                self.cfg.daily_token_budget,
            )


def _text_of(response: types.GenerateContentResponse) -> str:
    try:
        return answer_text(response)
    except InvalidAnswer as bad:  # pragma: no cover - only called after a valid answer
        return bad.raw


async def run_analyzer(
    cfg: AnalyzerConfig,
    store: Store,
    broadcast: Broadcast,
    *,
    options: AnalyzerOptions = AnalyzerOptions(),
    http: httpx.AsyncClient | None = None,
    now_ms: Callable[[], int] = wall_ms,
    task_status: trio.TaskStatus[ConcurrentAnalyzer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the analyzer until cancelled; ``task_status.started(analyzer)`` once workers run.

    Without an API key it starts ``disabled`` (or ``offline`` with ``options.offline``) and
    only counts submissions. ``http`` (tests, a shared client) is used as given and not closed;
    otherwise one is opened here and closed on exit. Cancellation abandons queued signals and
    calls in flight (their signals are already stored); with ``options.journal`` they are kept
    there and the next start resumes those still within ``options.resume_within_s``."""
    analyzer = ConcurrentAnalyzer(cfg, store, broadcast, options=options, now_ms=now_ms)
    if analyzer.mode == "disabled":
        logger.info("analysis disabled: no GEMINI_API_KEY")
        task_status.started(analyzer)
        await trio.sleep_forever()
    async with trio.open_nursery() as journal_nursery:
        if options.journal is not None:
            journal = await trio.to_thread.run_sync(Journal.open, options.journal)
            analyzer.journal = JournalWriter(journal)
            journal_nursery.start_soon(analyzer.journal.run)
            resumed, expired = analyzer.resume(await analyzer.journal.call(journal.load))
            if resumed or expired:
                logger.info(
                    "analysis: {} queued analyses resumed, {} past their deadline dropped",
                    resumed,
                    expired,
                )
        await _run_workers(analyzer, cfg, http, task_status)
        journal_nursery.cancel_scope.cancel()


async def _run_workers(
    analyzer: ConcurrentAnalyzer,
    cfg: AnalyzerConfig,
    http: httpx.AsyncClient | None,
    task_status: trio.TaskStatus[ConcurrentAnalyzer],
) -> None:
    owned = None
    if analyzer.mode == "running" and http is None:
        owned = http = httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.timeout_s + 5.0),
            limits=httpx.Limits(max_connections=cfg.max_concurrency),
        )
    try:
        if analyzer.mode == "running":
            assert http is not None
            analyzer.gate.client = gemini.make_client(cfg, http)
        workers = cfg.max_concurrency if analyzer.mode == "running" else 1
        async with trio.open_nursery() as nursery:
            for _ in range(max(1, workers)):
                nursery.start_soon(analyzer.worker)
            logger.info("analysis {} with {} ({} workers)", analyzer.mode, analyzer.model, workers)
            task_status.started(analyzer)
    finally:
        if owned is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(2.0):
                await owned.aclose()
