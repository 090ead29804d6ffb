"""How the command line prints a fire for people (``vyx backtest``, ``vyx trader``'s preview):
its bar's time, its values, and each clause with whether it held and its operands' values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import click


def fmt_value(value: object) -> str:
    """A value as printed: floats to 6 significant digits, None as ``null``."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "null" if value is None else str(value)


def bar_time(open_time_ms: int) -> str:
    """A bar's open time (epoch ms) as ``YYYY-MM-DD HH:MM`` UTC."""
    return datetime.fromtimestamp(open_time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def echo_clauses(clauses: Mapping[str, Mapping[str, object]], indent: str) -> None:
    """One line per clause (``✓``/``✗``, its label, its operands' values), after ``indent``."""
    for label, clause in clauses.items():
        values = clause["values"]
        assert isinstance(values, dict)
        shown = ", ".join(f"{k} = {fmt_value(v)}" for k, v in values.items())
        mark = "✓" if clause["held"] else "✗"
        click.echo(f"{indent}{mark} {label}" + (f"   [{shown}]" if shown else ""))
