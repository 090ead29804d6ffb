"""The ``--klines [TF=]FILE`` arguments shared by ``vyx eval`` and ``vyx backtest``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import click

from kernels.klines_csv import Klines, KlinesFileError, load_klines
from kernels.timeframes import TIMEFRAME_MS, TimeframeError, timeframe_ms

_SYMBOL = re.compile(r"^([A-Z0-9]{2,20})[-_.]")


def _guess_timeframe(path: Path, klines: Klines) -> str:
    for part in re.split(r"[-_.]", path.name):
        if part in TIMEFRAME_MS:
            return part
    step = klines.timeframe_ms
    for name, ms in TIMEFRAME_MS.items():
        if ms == step:
            return name
    raise click.BadParameter(f"cannot tell the timeframe of {path}; write it as TF={path}")


def _symbol(path: Path) -> str:
    match = _SYMBOL.match(path.name)
    return match.group(1) if match else path.stem


def load_klines_args(values: Iterable[str]) -> dict[str, dict[str, Klines]]:
    """Parse ``[TF=]FILE`` values into timeframe -> symbol -> klines.

    The symbol is the file name's first part (``BTCUSDT-5m-....csv``); the timeframe is the
    ``TF=`` prefix, else a timeframe named in the file name, else the bars' spacing.
    """
    data: dict[str, dict[str, Klines]] = {}
    for value in values:
        tf, sep, name = value.partition("=")
        if not sep:
            tf, name = "", value
        path = Path(name)
        try:
            klines = load_klines(path)
        except KlinesFileError as exc:
            raise click.BadParameter(str(exc), param_hint="--klines") from None
        if tf:
            try:
                timeframe_ms(tf)
            except TimeframeError as exc:
                raise click.BadParameter(str(exc), param_hint="--klines") from None
        else:
            tf = _guess_timeframe(path, klines)
        step = klines.timeframe_ms
        if step and step != timeframe_ms(tf):
            raise click.BadParameter(
                f"{path}: bars are {step // 1000}s apart, not {tf}", param_hint="--klines"
            )
        symbol = _symbol(path)
        if symbol in data.setdefault(tf, {}):
            raise click.BadParameter(f"two {tf} files for {symbol}", param_hint="--klines")
        data[tf][symbol] = klines
    return data
