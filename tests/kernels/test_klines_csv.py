"""Reading klines CSVs: numpy's parser where it can, the careful reader (naming the line of a
problem) where it cannot, the same floats either way."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from kernels.klines_csv import KlinesFileError, _parsed, _read_rows, load_klines


def test_both_readers_give_the_same_bars_for_every_shared_klines_file(shared_data: Path) -> None:
    files = sorted((shared_data / "binance").rglob("*.csv"))
    assert len(files) > 5
    for path in files:
        fast = _parsed(path)
        assert fast is not None, path
        assert np.array_equal(fast, _read_rows(path), equal_nan=True), path


def test_six_columns_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "X-5m.csv"
    path.write_text(
        "open_time,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n300000,1.5,2,1,1.25,3\n"
    )
    k = load_klines(path)
    assert k.open_time.tolist() == [0, 300000]
    assert k.bars[1, :5].tolist() == [1.5, 2.0, 1.0, 1.25, 3.0]
    assert np.isnan(k.bars[:, 5:8]).all()


def test_a_bad_value_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "X-5m.csv"
    path.write_text("0,1,2,0.5,1.5,10\n300000,1.5,2,oops,1.25,3\n")
    with pytest.raises(KlinesFileError, match=r"X-5m.csv:2: 'oops' is not a number"):
        load_klines(path)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (bytes(range(256)) * 40, ": not a text file (not UTF-8)"),  # binary: a clear error
        (b"1700000000000,1\x00,2,3,4,5\n", ":1: '1\\x00' is not a number"),  # a NUL byte
        (b"x" * 200_000 + b"\n", ": not a CSV file (field larger than field limit"),
    ],
)
def test_a_file_that_is_not_csv_text_is_refused_plainly(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "AAAUSDT-5m.csv"
    path.write_bytes(content)
    with pytest.raises(KlinesFileError, match=re.escape(said)):
        load_klines(path)
