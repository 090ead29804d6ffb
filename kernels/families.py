"""The kernel families, and which one runs each opcode.

A family is a module of :mod:`kernels.ind` with one ``block_nb`` (see :mod:`kernels.ind` for its
contract). The interpreter calls the family of a node's opcode once per node and block of bars;
each family is its own compiled unit, so families compile in parallel (:mod:`kernels.precompile`)
and a new opcode costs compile time only in its own family.
"""

from __future__ import annotations

from types import ModuleType

from kernels import ops
from kernels.ind import (
    averages,
    candles,
    elementwise,
    oscillators,
    stats,
    structure,
    trend,
    volume,
)

#: The families; the interpreter calls ``FAMILIES[i].block_nb`` for family ``i`` through entry
#: ``i`` of :mod:`kernels.family_table`.
FAMILIES: tuple[ModuleType, ...] = (
    elementwise,
    averages,
    stats,
    oscillators,
    trend,
    volume,
    structure,
    candles,
)

#: Opcodes the interpreter runs itself (they read the bars or other timeframes' values).
OWN = (ops.CONST, ops.SRC, ops.EXT)


def opcodes(family: ModuleType) -> tuple[int, ...]:
    """The opcodes ``family`` runs."""
    found: tuple[int, ...] = family.OPCODES
    return found


def table() -> tuple[int, ...]:
    """Family index of every opcode (-1: run by the interpreter, or unused)."""
    size = 1 + max(max(opcodes(f)) for f in FAMILIES)
    index = [-1] * size
    for i, family in enumerate(FAMILIES):
        for op in opcodes(family):
            if index[op] != -1:
                raise RuntimeError(f"opcode {op} is in two families")
            index[op] = i
    return tuple(index)
