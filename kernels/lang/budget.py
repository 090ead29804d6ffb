"""The filter budget: what one filter, and all of one user's traders together, may cost.

A filter over budget does not compile: :func:`kernels.lang.check` rejects text that is too long
or nests too deeply, :class:`kernels.program.Program` a plan that is too large, too slow to
step, too wide in memory or that needs more history than a ring holds. Each is a
:class:`~kernels.lang.CompileError` at the offending position naming the limit and its value.

The defaults are sized so that installing the worst filter within budget at the reference
workload (100 symbols × 1000 bars) costs at most ~100 ms and ~10 MiB (``just bench`` measures
it), while real filters use a small fraction of every limit.
"""

from __future__ import annotations

import attrs

#: Closed bars a ring buffer keeps per symbol and timeframe, at most (the daemon's cap).
MAX_RING = 5000

#: Bars of warm-up a filter may need per timeframe: a ring of ``MAX_RING`` bars holds them
#: with the daemon's margin (20 % + 20 bars), and backfill fetches them in 4 requests.
MAX_WARMUP = 4000

#: The deepest nesting any budget may allow: the parser, checker, printer and lowering
#: recurse once per level, and this keeps them far from Python's recursion limit.
DEPTH_CEILING = 100


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _depth(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _positive(instance, attribute, value)
    if value > DEPTH_CEILING:
        raise ValueError(f"{attribute.name} must be at most {DEPTH_CEILING}, got {value}")


def _warmup(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _positive(instance, attribute, value)
    if value > MAX_RING:
        raise ValueError(f"{attribute.name} must be at most MAX_RING ({MAX_RING}), got {value}")


@attrs.frozen
class Budget:
    """Limits of one filter and of all of one user's traders (``attrs.evolve`` to change one).

    *Plan nodes* are the steps a filter compiles to (each operator, comparison, constant,
    series and indicator stage; ``tema`` is seven). *Work* is the cost of stepping them one bar
    for one symbol, in simple node steps (~3 ns): most nodes cost 1, window scans more (see
    :attr:`kernels.ops.OpSpec.cost`). *Width* is the memory a plan keeps per symbol, in floats
    (8 bytes): each node's state and its ring of past values. Shared subexpressions count once.
    """

    #: Characters of filter text.
    max_chars: int = attrs.field(default=4096, validator=_positive)
    #: Nesting depth: each call, operator, index or parenthesis nests one level deeper
    #: (``a + b + c`` is 3 deep; chains of ``and``, ``or`` and comparisons are flat).
    max_depth: int = attrs.field(default=64, validator=_depth)
    #: Plan nodes of one filter.
    max_nodes: int = attrs.field(default=160, validator=_positive)
    #: Work of one filter per bar and symbol.
    max_work: int = attrs.field(default=160, validator=_positive)
    #: Width of one filter: floats per symbol.
    max_width: int = attrs.field(default=6144, validator=_positive)
    #: Bars of history one filter needs before it may fire, on each timeframe it reads.
    max_warmup: int = attrs.field(default=MAX_WARMUP, validator=_warmup)
    #: Plan nodes of all of a user's traders together.
    max_user_nodes: int = attrs.field(default=4096, validator=_positive)
    #: Work of all of a user's traders together, per bar and symbol.
    max_user_work: int = attrs.field(default=8192, validator=_positive)
    #: Width of all of a user's traders together: floats per symbol.
    max_user_width: int = attrs.field(default=32768, validator=_positive)


#: The default budget.
BUDGET = Budget()
