"""What the drafting model is told: the task and the language's reference (system), the user's
words (first turn), and after a rejected draft, exactly what the compiler said (next turns).
Pure text; the conversation's turns are built by :mod:`vyx.authoring.gemini_drafter`.
"""

from __future__ import annotations

from collections.abc import Sequence

from vyx.authoring.draft import Problem
from vyx.authoring.reference import language_reference

#: Longest piece of context (an imported trader's original code) put in a prompt (characters).
MAX_CONTEXT_CHARS = 6000

_TASK = """\
You write screening filters for Vyx, a crypto market screener. A user describes in plain words \
when a trader should fire; you answer with one JSON object: a short name, the trader's own \
timeframe, the filter in the Vyx filter language, and one entry per top-level clause (each \
operand of the top-level 'and', written exactly as in the filter) saying in plain words what it \
checks.
Rules:
- Use only the grammar, series and functions of the reference below: nothing else exists.
- Express exactly what the user asked, nothing more; when they give numbers, use those numbers.
- Timeframes: the trader's own must be one of those allowed; on("tf", ...) only with an allowed \
timeframe at least as long as the trader's own.
- Your filter is compiled by the real compiler. If it does not compile, you get its errors \
(line:column: message) and answer again with the whole corrected JSON object."""


def system_instruction() -> str:
    """The task, the rules and the whole language reference."""
    return f"{_TASK}\n\n# The Vyx filter language\n\n{language_reference()}"


def first_turn(words: str, *, timeframe: str, allowed: Sequence[str], context: str = "") -> str:
    """The user's request; ``context`` (optional) is more material, e.g. an old trader's code."""
    said = words.strip() or "(no description: work from the context below)"
    parts = [
        f"Describe this trader as a Vyx filter:\n{said}",
        f"Default timeframe (unless the words say another): {timeframe}.",
        f"Timeframes allowed here: {', '.join(allowed)}.",
    ]
    if context.strip():
        clipped = context.strip()[:MAX_CONTEXT_CHARS]
        parts.append(f"More context (do not copy its syntax; it is not Vyx):\n{clipped}")
    return "\n\n".join(parts)


def compiler_turn(problems: Sequence[Problem], round_no: int, rounds: int) -> str:
    """The errors of a rejected draft, each ``line:col: message`` as the compiler said it."""
    listed = "\n".join(str(p) for p in problems)
    return (
        f"That draft was rejected (round {round_no} of {rounds}). The compiler says:\n{listed}\n"
        "Fix every error and answer again with the whole JSON object."
    )


def invalid_turn(reason: str, round_no: int, rounds: int) -> str:
    """The answer was not the JSON object the schema describes."""
    return (
        f"That answer was not the JSON object asked for (round {round_no} of {rounds}): "
        f"{reason}. Answer again with the whole JSON object only."
    )
