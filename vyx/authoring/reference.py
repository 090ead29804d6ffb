"""The filter language's reference as a model reads it: grammar and semantics, every function,
worked examples — all generated from the sources of truth, never written twice.

- grammar and semantics: the docstring of :mod:`kernels.lang` (from "Grammar" up to the
  function list, which the catalog below replaces with exact ranges);
- functions: :data:`kernels.lang.catalog.FUNCTIONS` (signature, parameter ranges, outputs, doc);
- examples: the shipped example traders (``vyx/examples/traders.toml``).
"""

from __future__ import annotations

import functools
from importlib import resources

import kernels.lang
from kernels.lang.catalog import FUNCTIONS, SERIES, TICKER_FIELDS
from kernels.lang.signatures import FunctionSpec, format_number
from vyx.traders_file import parse_traders


def _grammar() -> str:
    doc = kernels.lang.__doc__ or ""
    start = doc.find("Grammar (EBNF")
    end = doc.find("Functions (")
    if start < 0 or end < start:  # pragma: no cover - guards a rewrite of the docstring
        raise RuntimeError("kernels.lang's docstring no longer has its Grammar section")
    return doc[start:end].strip()


def function_line(spec: FunctionSpec) -> str:
    """One catalog line: signature, parameter ranges, outputs, aliases and doc."""
    ranges = ", ".join(
        f"{p.name} {format_number(p.min)}..{format_number(p.max)}"
        + (" (whole)" if p.kind == "int" else "")
        for p in spec.params
    )
    extra = [f"ranges: {ranges}"] if ranges else []
    if spec.aliases:
        extra.append(f"also spelled {', '.join(spec.aliases)}")
    if spec.result == "bool":
        extra.append("a condition")
    if spec.window is not None:
        extra.append(f"window: {spec.window}")
    suffix = f" [{'; '.join(extra)}]" if extra else ""
    return f"- {spec.signature} — {spec.doc}{suffix}"


def catalog_text() -> str:
    """Every function of the language, one line each, indicators then helpers."""
    specs = sorted(FUNCTIONS.values(), key=lambda s: (s.category != "indicator", s.name))
    return "\n".join(function_line(s) for s in specs)


def examples_text() -> str:
    """The example traders, as name, timeframe and filter."""
    text = resources.files("vyx.examples").joinpath("traders.toml").read_text(encoding="utf-8")
    blocks = []
    for entry in parse_traders(text, "vyx/examples/traders.toml"):
        d = entry.definition
        blocks.append(f"# {d.name} (timeframe {d.timeframe})\n{d.filter}")
    return "\n\n".join(blocks)


@functools.cache
def language_reference() -> str:
    """The whole reference (grammar, series, functions, examples) as prompt text."""
    return (
        "## Grammar and semantics\n\n"
        f"{_grammar()}\n\n"
        "## Values\n\n"
        f"Series: {' '.join(SERIES)}. Ticker fields: {' '.join(TICKER_FIELDS)}.\n\n"
        "## Functions (name(inputs; parameters) -> fields)\n\n"
        f"{catalog_text()}\n\n"
        "## Examples\n\n"
        f"{examples_text()}\n"
    )
