"""Installing a trader set: off the event loop, all at once, or not at all.

A change is *staged* in a worker thread (:meth:`kernels.executor.Executor.stage`: every trader
compiled within the budget and against the timeframes streamed, the running nodes carried over
and the new ones warmed up, nothing running touched) and installed at once on the event loop,
under the screen lock: no screen ever runs against a half-installed program. A trader that does
not compile is left out and reported, the rest is installed; a change that fails leaves the
running traders as they were.

The market writes the rings on the event loop while a stage reads them in its thread; a stage
that saw a ring change is stale (the executor refuses it) and is staged again once the screens of
those bars have run.

A trader that needs more history than the rings keep (they are sized from the traders at start)
runs: it warms up over the candles that close from then on, and the next start sizes the rings
for it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from kernels.executor import Executor
from kernels.lang import BUDGET, Budget, CompileError
from kernels.program import CompiledTrader, Program, TraderDef
from kernels.staging import Staged

#: Stages of one change before it is given up as stale (the market kept writing meanwhile).
STAGE_ATTEMPTS = 5


class InstallFailed(Exception):
    """A trader change that could not be installed; the running traders are unchanged."""


def vet(
    trader: TraderDef | CompiledTrader, timeframes: Collection[str], budget: Budget = BUDGET
) -> str | None:
    """Why ``trader`` cannot run where ``timeframes`` are streamed, or None (a predicate:
    "does not compile: ..."). A compiled trader that can is not compiled again. Any failure
    of the compiler on a user's filter is a reason too: it rejects the trader, never the
    change or the daemon."""
    if isinstance(trader, CompiledTrader) and trader.runs_on(budget, timeframes):
        return None
    definition = trader.definition if isinstance(trader, CompiledTrader) else trader
    try:
        Program(budget=budget, timeframes=timeframes).add(definition)
    except CompileError as exc:
        return "does not compile:\n" + exc.format(definition.filter)
    except Exception as exc:
        return f"could not be compiled ({type(exc).__name__})"
    return None


def stage(
    executor: Executor, traders: Sequence[TraderDef | CompiledTrader]
) -> tuple[Staged, dict[str, str]]:
    """The staged set (in a worker thread) and, by id, the traders it left out and why.

    Raises:
        InstallFailed: the set as a whole could not be staged.
    """
    try:
        staged = executor.stage(traders)
    except Exception as exc:
        raise InstallFailed(f"the traders could not be installed ({type(exc).__name__})") from exc
    sources = {t.id: (t.definition if isinstance(t, CompiledTrader) else t).filter for t in traders}
    problems = {
        tid: "does not compile:\n" + error.format(sources[tid])
        for tid, error in staged.errors.items()
    }
    return staged, problems
