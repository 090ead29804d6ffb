"""The compiled reader of plain klines CSV text: Python's floats, or it gives the file up."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from kernels.csv_parse import POWERS, parse_nb
from kernels.klines_csv import _plain, _read_rows, load_klines


def _parse(text: str, width: int) -> np.ndarray | None:
    out = np.full((text.count("\n") + 1, width), np.nan)
    rows = parse_nb(
        np.frombuffer(bytearray(text.encode()), dtype=np.uint8), 0, np.arange(width), POWERS, out
    )
    return None if rows < 0 else out[:rows]


def _decimals(rng: random.Random) -> str:
    """A decimal of 1-18 significant digits with 0-22 decimals, or an 18-19 digit integer
    (beyond 2**53: rounding, and exact halfway cases)."""
    if rng.random() < 0.2:
        return str(rng.randint(2**53, 2**61))
    digits = str(rng.randint(1, 10 ** rng.randint(1, 18)))
    d = rng.randint(0, 22)
    if d == 0:
        return digits
    padded = digits.rjust(d + 1, "0")
    return f"{'-' if rng.random() < 0.1 else ''}{padded[:-d]}.{padded[-d:]}"


def test_every_value_is_the_float_python_reads() -> None:
    rng = random.Random(15)
    tokens = [_decimals(rng) for _ in range(60_000)]
    tokens += [repr(rng.uniform(0.1, 1e7)) for _ in range(20_000)]  # 17 digits
    tokens += ["0", "-0", "0.0", "1.", ".5", "007", "9007199254740993", "0.1", "2.675"]
    got = _parse("\n".join(tokens) + "\n", 1)
    assert got is not None
    want = np.array([float(t) for t in tokens])
    assert np.array_equal(got[:, 0], want)
    assert np.array_equal(np.signbit(got[:, 0]), np.signbit(want))  # -0 is -0.0


def test_line_ends_blank_lines_and_a_last_line_without_its_end() -> None:
    got = _parse("1,2\r\n\n3.5,-4\n\r\n5,6", 2)
    assert got is not None
    assert got.tolist() == [[1.0, 2.0], [3.5, -4.0], [5.0, 6.0]]


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3\n",  # three fields, not two
        "1\n",  # one
        "1,2\n3\n",  # a short row later
        "1, 2\n",  # a space
        "1,2e5\n",  # an exponent
        "1,abc\n",
        "1,\n",  # an empty field
        "1,-\n",
        "1,2.5.1\n",
        "1,12345678901234567890\n",  # 20 digits
        "1,0.00000000000000000000001\n",  # 23 decimals
        "1,2\r3\n",  # a lone carriage return
    ],
)
def test_anything_but_plain_numbers_gives_the_file_up(text: str) -> None:
    assert _parse(text, 2) is None


def test_a_file_the_reader_gives_up_is_read_by_the_others(tmp_path: Path) -> None:
    path = tmp_path / "X-5m.csv"
    path.write_text("0,1,2,0.5,1.5,1e1\n300000,1.5,2,1,1.25,3\n")
    assert _plain(path.read_bytes()) is None
    k = load_klines(path)
    assert k.bars[0, 4] == 10.0
    assert np.array_equal(k.bars, _read_rows(path), equal_nan=True)


def test_twelve_columns_with_a_header_map_to_the_bar_fields(tmp_path: Path) -> None:
    path = tmp_path / "X-1h.csv"
    path.write_text(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore\n"
        "3600000,1.5,2.25,1.0,2.0,10.5,7199999,21.0,7,4.25,8.5,0\n"
    )
    plain = _plain(path.read_bytes())
    assert plain is not None
    assert np.array_equal(plain, _read_rows(path), equal_nan=True)
    assert plain[0].tolist() == [1.5, 2.25, 1.0, 2.0, 10.5, 21.0, 7.0, 4.25, 3600000.0]
