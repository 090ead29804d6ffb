"""Option types shared by the commands: a bad value is a usage error (exit status 2) that names
the option, never a traceback."""

from __future__ import annotations

import math
from typing import Any

import click

from kernels.timeframes import TIMEFRAME_MS

#: A Binance interval name.
TIMEFRAME = click.Choice(list(TIMEFRAME_MS))


class _Positive(click.ParamType[float]):
    """A finite number above zero (``nan``, ``inf``, zero and below are refused)."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a finite number above 0", param, ctx)
        return number


POSITIVE = _Positive()
