"""Reading klines CSV files: Binance's 12-column layout (with or without the
data.binance.vision header) or ``open_time,open,high,low,close,volume``.

Columns not present in a file (quote volume, trades, taker buy volume in the 6-column layout)
are NaN. Open times are epoch milliseconds (data.binance.vision's newer files use microseconds:
those are converted).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import TextIO

import attrs
import numpy as np
import numpy.typing as npt

from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.ring import FIELDS

_NEWLINE = 10

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Binance's 12 kline columns -> our field index (None: not kept).
_COLUMNS_12: tuple[int | None, ...] = (OPEN_TIME, 0, 1, 2, 3, 4, None, 5, 6, 7, None, None)
_COLUMNS_6: tuple[int | None, ...] = (OPEN_TIME, 0, 1, 2, 3, 4)


class KlinesFileError(ValueError):
    """A klines file that cannot be read, with the file and line."""


@attrs.frozen(eq=False)
class Klines:
    """Closed bars of one symbol and timeframe, oldest first."""

    open_time: I64
    #: float64[n, 9]: :data:`kernels.ring.FIELDS` then the open time.
    bars: F64

    def __len__(self) -> int:
        return len(self.open_time)

    def field(self, name: str) -> F64:
        """One field's values (``open`` ... ``taker_buy_volume``)."""
        column: F64 = self.bars[:, FIELDS.index(name)]
        return column

    @property
    def timeframe_ms(self) -> int:
        """The most common spacing of open times (0 for fewer than two bars)."""
        if len(self.open_time) < 2:
            return 0
        steps, counts = np.unique(np.diff(self.open_time), return_counts=True)
        return int(steps[np.argmax(counts)])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _plain(raw: bytes | bytearray) -> F64 | None:
    """The bars of a file of plain decimal numbers through the compiled reader
    (:mod:`kernels.csv_parse`: the same floats as ``float``), or None when it is not one."""
    from kernels.csv_parse import POWERS, parse_nb  # numba: only when a file is read

    # Writable (one compiled signature): a bytearray as read, bytes copied.
    text = np.frombuffer(raw if isinstance(raw, bytearray) else bytearray(raw), dtype=np.uint8)
    end = raw.find(b"\n")
    first = raw if end < 0 else raw[:end]
    start = 0
    if first and not _is_number(first.split(b",")[0].decode(errors="replace")):
        start = len(raw) if end < 0 else end + 1  # a header
    line_end = raw.find(b"\n", start)
    fields = raw[start : len(raw) if line_end < 0 else line_end].count(b",") + 1
    if fields not in (12, 6):
        return None
    columns = np.asarray(
        [-1 if i is None else i for i in (_COLUMNS_12 if fields == 12 else _COLUMNS_6)],
        dtype=np.int64,
    )
    # Lines counted by numpy (bytes.count was a fifth of the reading).
    lines = int(np.count_nonzero(text[start:] == _NEWLINE))
    bars = np.full((lines + 1, N_BAR_FIELDS), np.nan)
    rows = parse_nb(text, start, columns, POWERS, bars)
    return bars[:rows] if rows > 0 else None


def _parsed(path: Path) -> F64 | None:
    """The bars through the compiled reader or numpy's C parser (same floats as ``float``),
    or None when the file needs the careful reader below (which names the line of any
    problem)."""
    try:
        with path.open("rb") as handle:
            # Read into a bytearray (the compiled reader's writable buffer), not copied to one.
            raw = bytearray(os.fstat(handle.fileno()).st_size)
            del raw[handle.readinto(raw) :]
            raw += handle.read()  # whatever came after its size was taken
        plain = _plain(raw)
    except OSError:
        return None
    if plain is not None:
        return plain
    try:
        with path.open() as handle:
            first = handle.readline()
        skip = 1 if first and not _is_number(first.split(",")[0]) else 0
        with warnings.catch_warnings():  # no data: the careful reader says so
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, comments=None)
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    if table.shape[0] == 0 or table.shape[1] not in (12, 6):
        return None
    bars = np.full((len(table), N_BAR_FIELDS), np.nan)
    for j, index in enumerate(_COLUMNS_12 if table.shape[1] == 12 else _COLUMNS_6):
        if index is not None:
            bars[:, index] = table[:, j]
    return bars


def load_klines(path: str | Path) -> Klines:
    """Read a klines CSV; raises :class:`KlinesFileError` naming the file and line."""
    path = Path(path)
    bars = _parsed(path)
    return _klines(path, bars if bars is not None else _read_rows(path))


def _read_rows(path: Path) -> F64:
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise KlinesFileError(f"{path}: {exc.strerror}") from None
    rows: list[list[float | None]] = []
    with handle:
        try:
            _read_records(path, handle, rows)
        except UnicodeDecodeError:
            raise KlinesFileError(f"{path}: not a text file (not UTF-8)") from None
        except csv.Error as exc:
            raise KlinesFileError(f"{path}: not a CSV file ({exc})") from None
    if not rows:
        raise KlinesFileError(f"{path}: no klines")
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64)


def _read_records(path: Path, handle: TextIO, rows: list[list[float | None]]) -> None:
    """Append the bars of ``handle``'s lines to ``rows`` (a header line skipped)."""
    for lineno, record in enumerate(csv.reader(handle), start=1):
        if not record or not "".join(record).strip():
            continue
        if lineno == 1 and not _is_number(record[0]):
            continue  # header
        if len(record) == 12:
            columns = _COLUMNS_12
        elif len(record) == 6:
            columns = _COLUMNS_6
        else:
            raise KlinesFileError(
                f"{path}:{lineno}: expected 12 columns (Binance kline) or 6 "
                f"(open_time,open,high,low,close,volume), got {len(record)}"
            )
        values: list[float | None] = [None] * N_BAR_FIELDS
        for text, index in zip(record, columns, strict=False):
            if index is None:
                continue
            try:
                values[index] = float(text)
            except ValueError:
                raise KlinesFileError(f"{path}:{lineno}: {text!r} is not a number") from None
        rows.append(values)


def _klines(path: Path, bars: F64) -> Klines:
    times = bars[:, OPEN_TIME].astype(np.int64)
    if times[0] > 10**14:  # microseconds (data.binance.vision since 2025)
        times //= 1000
        bars[:, OPEN_TIME] = times
    if np.any(np.diff(times) <= 0):
        bad = int(np.argmax(np.diff(times) <= 0)) + 2
        raise KlinesFileError(f"{path}: open times must increase (row {bad})")
    return Klines(times, bars)
