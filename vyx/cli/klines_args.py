"""The ``--klines [TF=]FILE`` arguments shared by ``vyx eval`` and ``vyx backtest``."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
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
    return start_loading(values, background=False)()


def start_loading(
    values: Iterable[str], *, background: bool = True
) -> Callable[[], dict[str, dict[str, Klines]]]:
    """:func:`load_klines_args` in two halves: the files are read now (``background``: on a
    thread of their own, while the caller gets on with its own set-up: the compiled reader
    lets go of the GIL), and the returned function waits for them and gives the klines, or
    raises the error :func:`load_klines_args` would (the first file's, in argument order)."""
    paths = []
    for value in values:
        tf, sep, name = value.partition("=")
        paths.append((tf if sep else "", Path(name if sep else value)))
    read: list[Klines | KlinesFileError | None] = [None] * len(paths)
    failed: list[BaseException] = []

    def read_all() -> None:
        try:
            for i, (_, path) in enumerate(paths):
                try:
                    read[i] = load_klines(path)
                except KlinesFileError as exc:
                    read[i] = exc
        except BaseException as exc:  # re-raised by finish(), on the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=read_all, name="vyx-klines", daemon=True)
    if background:
        thread.start()
    else:
        read_all()

    def finish() -> dict[str, dict[str, Klines]]:
        if background:
            thread.join()
        if failed:
            raise failed[0]
        data: dict[str, dict[str, Klines]] = {}
        for (tf, path), klines in zip(paths, read, strict=True):
            if isinstance(klines, KlinesFileError):
                raise click.BadParameter(str(klines), param_hint="--klines") from None
            assert klines is not None
            tf = _timeframe(tf, path, klines)
            symbol = _symbol(path)
            if symbol in data.setdefault(tf, {}):
                raise click.BadParameter(f"two {tf} files for {symbol}", param_hint="--klines")
            data[tf][symbol] = klines
        return data

    return finish


def _timeframe(tf: str, path: Path, klines: Klines) -> str:
    """The timeframe of ``path``: ``tf`` when given (checked), else guessed; its bars'
    spacing must be that timeframe's."""
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
    return tf
