"""Binding the arguments of a call to a function's series inputs and parameters.

Rules (see the grammar in :mod:`kernels.lang`):

- Positional arguments come before keyword arguments (``name=value``); no name is given twice.
- When every series input has a default and the first positional argument is a number literal,
  all positional arguments are parameters: ``rsi(14)`` is ``rsi(close, 14)``.
- Otherwise positional arguments fill the series inputs first, then the parameters. Indicators
  take their series inputs all or none (``atr(close, 14)`` would silently read ``close`` as the
  high), unless the missing ones are given by keyword: ``obv(hl2, volume=quote_volume)``.
- A parameter is a number literal (a leading ``-`` allowed) of its kind, within its range.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from kernels.lang import syntax as syn
from kernels.lang.errors import Span, did_you_mean, quoted
from kernels.lang.signatures import FunctionSpec, Param, format_number

#: Reports one problem: (message, span, expected).
Report = Callable[[str, Span, "str | None"], None]


@attrs.frozen
class Binding:
    """Bound arguments: input expressions (None: the input's default) and parameter values."""

    inputs: tuple[syn.Node | None, ...]
    params: tuple[float, ...]


def literal_value(node: syn.Node) -> float | None:
    """The value of a number literal, possibly negated, or None if ``node`` is not one."""
    if isinstance(node, syn.Number):
        return node.value
    if isinstance(node, syn.Unary) and node.op == "-" and isinstance(node.operand, syn.Number):
        return -node.operand.value
    return None


def describe(node: syn.Node) -> str:
    """How a message names what it found: ``'close'``, ``a string``, ``an expression``."""
    match node:
        case syn.Number(text=text):
            return f"the number {quoted(text)}"
        case syn.String():
            return "a string"
        case syn.Bool(value=value):
            return "true" if value else "false"
        case syn.Name(name=name):
            return f"'{quoted(name)}'"
        case _:
            return "an expression"


def bind(spec: FunctionSpec, call: syn.CallSyntax, report: Report) -> Binding | None:
    """Bind ``call``'s arguments to ``spec``; None (after reporting why) when they do not fit."""
    ok = True
    positional: list[syn.Arg] = []
    keywords: dict[str, syn.Arg] = {}
    for arg in call.args:
        if arg.name is None:
            if keywords:
                report("positional argument after keyword arguments", arg.span, "name=value")
                ok = False
            else:
                positional.append(arg)
        elif arg.name in keywords:
            assert arg.name_span is not None
            report(f"argument '{arg.name}' given twice", arg.name_span, None)
            ok = False
        else:
            keywords[arg.name] = arg

    n_inputs = _positional_inputs(spec, positional)
    inputs: list[syn.Node | None] = [a.value for a in positional[:n_inputs]]
    inputs += [None] * (len(spec.inputs) - n_inputs)
    param_args: list[syn.Node | None] = [a.value for a in positional[n_inputs:]]
    if len(param_args) > len(spec.params):
        extra = positional[n_inputs + len(spec.params)]
        report(
            f"too many arguments: {spec.signature} takes at most "
            f"{len(spec.inputs) + len(spec.params)}",
            extra.span,
            "')'",
        )
        return None
    param_args += [None] * (len(spec.params) - len(param_args))

    input_names = [i.name for i in spec.inputs]
    param_names = [p.name for p in spec.params]
    for name, arg in keywords.items():
        assert arg.name_span is not None
        if name in input_names:
            slot, filled = input_names.index(name), inputs
        elif name in param_names:
            slot, filled = param_names.index(name), param_args
        else:
            known = input_names + param_names
            report(
                f"{spec.name} has no argument '{quoted(name)}'{did_you_mean(name, known)} "
                f"(expected one of {', '.join(known) or 'none'})",
                arg.name_span,
                None,
            )
            ok = False
            continue
        if filled[slot] is not None:
            report(f"argument '{quoted(name)}' given twice", arg.name_span, None)
            ok = False
        filled[slot] = arg.value

    if 0 < n_inputs < len(spec.inputs) and any(i is None for i in inputs[n_inputs:]):
        names = ", ".join(input_names)
        report(
            f"{spec.name} takes its series inputs ({names}) all or none; found {n_inputs}",
            call.span,
            f"{len(spec.inputs)} series inputs",
        )
        ok = False
    for spec_input, given in zip(spec.inputs, inputs, strict=True):
        if given is None and spec_input.default is None:
            report(f"missing argument '{spec_input.name}' of {spec.signature}", call.span, None)
            ok = False

    params: list[float] = []
    for param, node in zip(spec.params, param_args, strict=True):
        value = param.default if node is None else _param_value(spec, param, node, report)
        ok = ok and value is not None
        params.append(param.default if value is None else value)
    if ok and not _ordered(spec, params, call, report):
        ok = False
    return Binding(tuple(inputs), tuple(params)) if ok else None


def _ordered(spec: FunctionSpec, params: list[float], call: syn.CallSyntax, report: Report) -> bool:
    """Whether ``params`` keep the order ``spec.ordered`` asks (``min_sep < lookback``)."""
    names = [p.name for p in spec.params]
    ok = True
    for first, second in spec.ordered:
        a, b = params[names.index(first)], params[names.index(second)]
        if not a < b:
            report(
                f"{spec.name}: {first} ({format_number(a)}) must be less than "
                f"{second} ({format_number(b)})",
                call.span,
                f"{first} < {second}",
            )
            ok = False
    return ok


def _positional_inputs(spec: FunctionSpec, positional: list[syn.Arg]) -> int:
    """How many leading positional arguments are series inputs."""
    if not positional or not spec.inputs:
        return 0
    if all(i.default is not None for i in spec.inputs):
        count = 0
        for arg in positional[: len(spec.inputs)]:
            if literal_value(arg.value) is not None:
                break
            count += 1
        return count
    return min(len(positional), len(spec.inputs))


def _param_value(spec: FunctionSpec, param: Param, node: syn.Node, report: Report) -> float | None:
    value = literal_value(node)
    where = f"parameter '{param.name}' of {spec.name}"
    if value is None:
        report(f"{where} must be a number literal, found {describe(node)}", node.span, "number")
        return None
    if param.kind == "int" and not value.is_integer():
        text = format_number(value)
        report(f"{where} must be a whole number, found {text}", node.span, "integer")
        return None
    if not param.min <= value <= param.max:
        low, high = format_number(param.min), format_number(param.max)
        report(
            f"{where} must be between {low} and {high}, found {format_number(value)}",
            node.span,
            f"{low}..{high}",
        )
        return None
    return float(value)
