"""``vyx filter check``: compile a filter and show what it means, or every error in it."""

from __future__ import annotations

import json
import sys

import click

from kernels.lang import CompileError
from kernels.program import Program, TraderDef
from kernels.timeframes import TIMEFRAME_MS
from vyx.cli.option_types import timeframe_option


@click.group("filter")
def filter_group() -> None:
    """Work with filters written in the Vyx filter language."""


@filter_group.command("check")
@click.argument("expr")
@timeframe_option("The trader's own timeframe.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check_command(expr: str, timeframe: str, as_json: bool) -> None:
    """Check EXPR ('-' reads it from stdin); exit 2 with every error if it is invalid."""
    source = sys.stdin.read() if expr == "-" else expr
    program = Program()
    try:
        plan = program.add(TraderDef("filter", source, timeframe))
    except CompileError as exc:
        if as_json:
            errors = [
                {
                    "line": d.span.line,
                    "column": d.span.col,
                    "message": d.message,
                    "expected": d.expected,
                }
                for d in exc.diagnostics
            ]
            click.echo(json.dumps({"ok": False, "errors": errors}, indent=2))
        else:
            click.echo(exc.format(source), err=True)
        sys.exit(2)
    warmup = program.warmup(plan.id, program.layouts())
    nodes = {tf: len(g) for tf, g in program.graphs.items()}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "normalized": plan.checked.normalized,
                    "clauses": [c.label for c in plan.clauses],
                    "timeframes": sorted(plan.checked.timeframes, key=TIMEFRAME_MS.__getitem__),
                    "warmup_bars": warmup,
                    "plan_nodes": nodes,
                },
                indent=2,
            )
        )
        return
    click.echo(f"ok: {plan.checked.normalized}")
    click.echo("clauses:")
    for i, clause in enumerate(plan.clauses, 1):
        click.echo(f"  {i}. {clause.label}")
    click.echo("warm-up: " + ", ".join(f"{n} bars of {tf}" for tf, n in warmup.items()))
    click.echo("plan: " + ", ".join(f"{n} nodes on {tf}" for tf, n in nodes.items()))
