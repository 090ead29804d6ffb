"""Signal ids: the fast computation is exactly ``uuid5`` (ids are stored: they must never move)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from vyx.signal import SIGNAL_NAMESPACE, signal_id


def test_a_known_id_never_changes() -> None:
    assert (
        signal_id("rsi-dip", "BTCUSDT", "5m", 1760000000000)
        == "b66e6c58-7b6c-59a4-aac8-a7ef05df5aca"
    )


@given(st.text(max_size=20), st.text(max_size=12), st.sampled_from(["5m", "1h"]), st.integers())
def test_signal_id_is_uuid5(trader: str, symbol: str, interval: str, t: int) -> None:
    expected = str(uuid.uuid5(SIGNAL_NAMESPACE, f"{trader}|{symbol}|{interval}|{t}"))
    assert signal_id(trader, symbol, interval, t) == expected
