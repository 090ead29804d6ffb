"""A drafted trader and the check every draft passes: our compiler's word is final.

A drafter (the model, the offline phrasebook, the importer) produces a :class:`Proposal`;
:func:`check_proposal` compiles it with the real compiler (:class:`kernels.program.Program`:
parse, check — budget included — and lower), checks its timeframes against those allowed here,
and returns either a :class:`Draft` (it compiles; its clauses carry their explanations and its
warm-up is known) or the :class:`Problem` list, each ``line:col: message`` as the compiler said it.
Pure; compiling a filter is CPU work, so the async shell runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import attrs

from kernels.lang import CompileError, Diagnostic, ast, check
from kernels.lang.ast import Logic
from kernels.program import Program, TraderDef
from kernels.timeframes import TIMEFRAME_MS

#: Longest filter text a drafter may propose (characters).
MAX_FILTER_CHARS = 4000
#: Longest trader name (characters).
MAX_NAME_CHARS = 80
#: At most this many problems are reported (and sent back to a model) per round.
MAX_PROBLEMS = 20


@attrs.frozen
class Problem:
    """Why a proposal is not a draft: the compiler's diagnostic (``line``/``col`` 1-based) or a
    rule of ours about the whole proposal (no position)."""

    message: str
    line: int | None = None
    col: int | None = None

    @classmethod
    def of(cls, diagnostic: Diagnostic) -> Problem:
        """A compiler diagnostic, with its position."""
        return cls(diagnostic.message, diagnostic.span.line, diagnostic.span.col)

    def __str__(self) -> str:
        return self.message if self.line is None else f"{self.line}:{self.col}: {self.message}"


@attrs.frozen
class Proposal:
    """A trader as a drafter proposes it, before the compiler has looked at it."""

    name: str
    timeframe: str
    filter: str
    #: ``(clause text, what it checks)`` pairs, in the drafter's order.
    explanations: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class ClauseNote:
    """One clause of a draft: its canonical text and what it checks (None: not explained)."""

    label: str
    explanation: str | None


@attrs.frozen
class Draft:
    """A proposal that compiles, ready to preview and save."""

    name: str
    timeframe: str
    #: The filter as it will be saved: canonical, one clause per line.
    filter: str
    #: The canonical one-line text (what equality of filters means).
    normalized: str
    clauses: tuple[ClauseNote, ...]
    #: Bars of history each timeframe needs before the trader may fire.
    warmup: Mapping[str, int]
    #: Who drafted it: ``offline`` or the model's name.
    origin: str = "offline"

    @property
    def timeframes(self) -> tuple[str, ...]:
        """Every timeframe the filter reads, shortest first."""
        return tuple(sorted(self.warmup, key=TIMEFRAME_MS.__getitem__))

    def definition(self, trader_id: str = "draft") -> TraderDef:
        """The draft as a trader definition."""
        return TraderDef(trader_id, self.filter, self.timeframe, self.name)


def _on_nodes(expr: ast.Expr) -> list[ast.On]:
    return [n for n in ast.walk(expr) if isinstance(n, ast.On)]


def _shape(proposal: Proposal, allowed: Collection[str] | None) -> list[Problem]:
    problems = []
    if not proposal.name.strip():
        problems.append(Problem("name: a trader needs a name"))
    elif len(proposal.name) > MAX_NAME_CHARS:
        problems.append(Problem(f"name: at most {MAX_NAME_CHARS} characters"))
    if not proposal.filter.strip():
        problems.append(Problem("filter: empty; write one condition at least"))
    elif len(proposal.filter) > MAX_FILTER_CHARS:
        problems.append(Problem(f"filter: at most {MAX_FILTER_CHARS} characters"))
    choices = ", ".join(allowed if allowed is not None else TIMEFRAME_MS)
    if proposal.timeframe not in TIMEFRAME_MS:
        problems.append(
            Problem(f"timeframe: '{proposal.timeframe}' is not a timeframe (one of {choices})")
        )
    elif allowed is not None and proposal.timeframe not in allowed:
        problems.append(
            Problem(f"timeframe: '{proposal.timeframe}' is not available here (one of {choices})")
        )
    return problems


def clause_lines(expr: ast.Expr, labels: Sequence[str]) -> str:
    """The canonical text with one top-level clause per line (``or`` clauses in parentheses)."""
    operands = expr.operands if isinstance(expr, Logic) and expr.op == "and" else (expr,)
    parts = [
        f"({label})" if isinstance(o, Logic) else label
        for o, label in zip(operands, labels, strict=True)
    ]
    return "\nand ".join(parts)


def _notes(labels: Sequence[str], given: Sequence[tuple[str, str]], tf: str) -> list[ClauseNote]:
    """Pair each clause with the drafter's explanation: by canonical text, else by position
    when the counts agree."""
    by_label: dict[str, str] = {}
    for text, meaning in given:
        try:
            label = check(text, timeframe=tf).normalized
        except (CompileError, ValueError):
            continue
        by_label.setdefault(label, meaning.strip())
    positional = len(given) == len(labels)
    return [
        ClauseNote(label, by_label.get(label) or (given[i][1].strip() if positional else None))
        for i, label in enumerate(labels)
    ]


def check_proposal(
    proposal: Proposal, *, allowed_timeframes: Collection[str] | None = None, origin: str = ""
) -> Draft | list[Problem]:
    """Compile ``proposal``; a :class:`Draft`, or every problem (at most :data:`MAX_PROBLEMS`).

    ``allowed_timeframes`` (None: any) limits the trader's own timeframe and every ``on()``."""
    problems = _shape(proposal, allowed_timeframes)
    if problems:
        return problems
    program = Program()
    trader = TraderDef("draft", proposal.filter, proposal.timeframe, proposal.name.strip())
    try:
        plan = program.add(trader)
    except CompileError as exc:
        return [Problem.of(d) for d in exc.diagnostics[:MAX_PROBLEMS]]
    checked = plan.checked
    if allowed_timeframes is not None:
        for node in _on_nodes(checked.expr):
            if node.timeframe not in allowed_timeframes:
                problems.append(
                    Problem(
                        f"timeframe '{node.timeframe}' is not available here "
                        f"(one of {', '.join(allowed_timeframes)})",
                        node.span.line,
                        node.span.col,
                    )
                )
        if problems:
            return problems[:MAX_PROBLEMS]
    labels = [c.label for c in checked.clauses]
    return Draft(
        name=proposal.name.strip(),
        timeframe=proposal.timeframe,
        filter=clause_lines(checked.expr, labels),
        normalized=checked.normalized,
        clauses=tuple(_notes(labels, proposal.explanations, proposal.timeframe)),
        warmup=program.warmup(plan.id, program.layouts()),
        origin=origin or "offline",
    )


#: Rounds of draft → compile → errors back a model gets before the user sees the last errors.
ROUNDS = 3


@attrs.frozen
class Round:
    """One round of drafting: what was proposed and what the compiler (or we) said."""

    proposal: Proposal | None
    #: The model's answer text (empty for the offline drafter).
    raw: str
    problems: tuple[Problem, ...]


@attrs.frozen
class DraftResult:
    """A draft that compiles, or the last problems (never a filter that does not compile)."""

    draft: Draft | None
    #: Why there is no draft (the last round's problems, or why no round could run).
    problems: tuple[Problem, ...] = ()
    rounds: tuple[Round, ...] = ()
    #: Gemini tokens charged (0 offline).
    tokens: int = 0
    #: The model could not be asked (API error, breaker open, budget spent): not a problem of
    #: the words.
    unavailable: bool = False

    @property
    def ok(self) -> bool:
        """A draft was made."""
        return self.draft is not None


class Drafter(Protocol):
    """Anything that turns words into a :class:`DraftResult` (Gemini, the phrasebook)."""

    async def draft(
        self,
        words: str,
        *,
        timeframe: str = "5m",
        allowed_timeframes: Collection[str] | None = None,
        context: str = "",
    ) -> DraftResult:
        """Draft a trader from ``words``; ``context`` is more material (an old trader's code)."""
        ...
