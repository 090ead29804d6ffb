"""What a function of the filter language looks like: its series inputs, its numeric
parameters, its outputs (:class:`FunctionSpec`); :mod:`kernels.lang.catalog` lists them all."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import attrs

#: A value type of the language: a number series or a boolean series.
ExprType = Literal["number", "bool"]


@attrs.frozen
class Input:
    """A series input: its keyword name and the series it defaults to (None: required)."""

    name: str
    default: str | None = None


@attrs.frozen
class Param:
    """A numeric parameter; ``kind`` int accepts whole numbers only. Range is inclusive."""

    name: str
    kind: Literal["int", "float"]
    default: float
    min: float
    max: float


@attrs.frozen
class FunctionSpec:
    """One function of the language.

    Attributes:
        name: canonical name.
        inputs: series inputs, in positional order.
        params: numeric parameters, in positional order (after the inputs).
        outputs: field names of a multi-output indicator, None for a single output.
        result: the type of the value (of each field, for multi-output indicators).
        reference: the implementation whose values it reproduces, e.g. ``"TA-Lib RSI"``.
        doc: one line for people.
        aliases: other accepted names.
        field_aliases: other accepted field names -> canonical field name.
        category: ``"indicator"`` or ``"helper"``.
        window: how it needs a window of past bars rather than streaming a running state
            (None: it streams, one step per bar from its state).
        ordered: pairs of parameters ``(a, b)`` where ``a`` must be less than ``b``.
    """

    name: str
    inputs: tuple[Input, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...] | None
    result: ExprType
    reference: str
    doc: str
    aliases: tuple[str, ...] = ()
    field_aliases: Mapping[str, str] = attrs.field(factory=dict)
    category: Literal["indicator", "helper"] = "indicator"
    window: str | None = None
    ordered: tuple[tuple[str, str], ...] = ()

    @property
    def signature(self) -> str:
        """``name(input=default, ...; param=default, ...)`` for messages and documentation."""
        inputs = [i.name if i.default is None else f"{i.name}={i.default}" for i in self.inputs]
        params = [f"{p.name}={format_number(p.default)}" for p in self.params]
        inner = ", ".join(inputs + params)
        fields = f" -> {', '.join(self.outputs)}" if self.outputs else ""
        return f"{self.name}({inner}){fields}"


def format_number(value: float) -> str:
    """The shortest text that reads back as ``value``: ``14``, ``2.5``, ``1e-05``, ``-0``."""
    if value.is_integer() and abs(value) < 1e16:
        return ("-" if math.copysign(1.0, value) < 0 else "") + str(abs(int(value)))
    return repr(value)
