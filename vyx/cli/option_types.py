"""Option types shared by the commands: a bad value is a usage error (exit status 2) that names
the option, never a traceback."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kernels.timeframes import TIMEFRAME_MS

#: A Binance interval name.
TIMEFRAME = click.Choice(list(TIMEFRAME_MS))

F = TypeVar("F", bound=Callable[..., Any])


def timeframe_option(help_text: str, default: str | None = "5m") -> Callable[[F], F]:
    """``--timeframe``/``-t``: a Binance interval name (``default`` shown in the help)."""
    return click.option(
        "--timeframe",
        "-t",
        default=default,
        show_default=default is not None,
        type=TIMEFRAME,
        help=help_text,
    )


def klines_option(help_text: str) -> Callable[[F], F]:
    """``--klines [TF=]FILE``, required, repeatable (read by :mod:`vyx.cli.klines_args`)."""
    return click.option(
        "--klines", "klines", multiple=True, required=True, metavar="[TF=]FILE", help=help_text
    )


class _Positive(click.ParamType[float]):
    """A finite number above zero and at most ``most`` (``nan``, ``inf``, zero and below are
    refused)."""

    name = "number"

    def __init__(self, most: float = math.inf) -> None:
        self.most = most

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a finite number above 0", param, ctx)
        if number > self.most:
            self.fail(f"{value!r} is above {self.most:g}", param, ctx)
        return number


POSITIVE = _Positive()
#: Fastest simulated market (market time per real time): a 5m candle every 83 ms. Faster, the
#: simulator makes candles faster than anything consumes them (memory grows by the second, and
#: the event loop is too busy to see Ctrl-C).
MAX_SPEED = 3600.0
#: A simulated market's speed: above 0, at most :data:`MAX_SPEED`.
SPEED = _Positive(MAX_SPEED)
