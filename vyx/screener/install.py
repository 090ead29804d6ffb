"""Installing a trader set: off the event loop, all at once, or not at all.

Each new or edited trader is first checked on its own (:func:`vet`): its filter compiles within
the budget, it reads only timeframes this machine streams, and the history it needs before it
can fire fits the ring. A trader that fails is left out and reported; the rest of the set is
*staged* in a worker thread (:meth:`kernels.executor.Executor.stage`: compiled, planned, the
running nodes carried over and the new ones warmed up, nothing running touched) and installed
at once on the event loop, under the screen lock: no screen ever runs against a half-installed
program, and a change that fails leaves the running traders as they were.

The market writes the rings on the event loop while a stage reads them in its thread; a stage
that saw a ring change is stale (the executor refuses it) and is staged again once the screens of
those bars have run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kernels.executor import Executor
from kernels.lang import BUDGET, Budget, CompileError
from kernels.program import Program, TraderDef
from kernels.staging import Staged

#: Stages of one change before it is given up as stale (the market kept writing meanwhile).
STAGE_ATTEMPTS = 5


class InstallFailed(Exception):
    """A trader change that could not be installed; the running traders are unchanged."""


def vet(trader: TraderDef, depth: Mapping[str, int], budget: Budget = BUDGET) -> str | None:
    """Why ``trader`` cannot run on rings of ``depth`` (timeframe -> bars kept), or None
    (a predicate: "does not compile: ...", "needs 1200 5m candles of history ...").

    Any failure of the compiler on a user's filter is a reason too: it rejects the trader,
    never the change or the daemon.
    """
    program = Program(budget=budget, timeframes=depth.keys())
    try:
        program.add(trader)
        for tf, bars in program.warmup(trader.id, program.layouts()).items():
            if bars > depth[tf]:
                return (
                    f"needs {bars} {tf} candles of history before it can fire; this machine "
                    f"keeps {depth[tf]}"
                )
    except CompileError as exc:
        return "does not compile:\n" + exc.format(trader.filter)
    except Exception as exc:
        return f"could not be compiled ({type(exc).__name__})"
    return None


def vet_all(
    traders: Sequence[TraderDef],
    depth: Mapping[str, int],
    running: Mapping[str, TraderDef],
    budget: Budget = BUDGET,
) -> tuple[list[TraderDef], dict[str, str]]:
    """The traders that can run and, by id, why the others cannot (in a worker thread).

    Traders already running unchanged (``running``) were vetted when they were installed.
    """
    problems: dict[str, str] = {}
    accepted: list[TraderDef] = []
    for trader in traders:
        problem = None if running.get(trader.id) == trader else vet(trader, depth, budget)
        if problem is None:
            accepted.append(trader)
        else:
            problems[trader.id] = problem
    return accepted, problems


def stage(executor: Executor, traders: Sequence[TraderDef]) -> tuple[Staged, dict[str, str]]:
    """The staged set (in a worker thread) and, by id, the traders it left out and why.

    Raises:
        InstallFailed: the set as a whole could not be staged.
    """
    try:
        staged = executor.stage(traders)
    except Exception as exc:
        raise InstallFailed(f"the traders could not be installed ({type(exc).__name__})") from exc
    sources = {t.id: t.filter for t in traders}
    problems = {
        tid: "does not compile:\n" + error.format(sources[tid])
        for tid, error in staged.errors.items()
    }
    return staged, problems
