"""The words of an alert: what a signal says, how a digest groups a burst, and that every
message fits its service (and parses as Telegram HTML) whatever the names hold."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vyx.notify.conftest import notice, verdict
from tests.vyx.notify.fakes import telegram_entities
from vyx.notify import render
from vyx.notify.notices import SignalClause


def test_a_signal_says_symbol_timeframe_price_trader_clauses_values_and_link() -> None:
    n = notice(0, name="RSI dip", symbol="BTCUSDT")
    text = render.signal_text(n, render.PLAIN, link_base="https://vyx.example/")
    lines = text.splitlines()
    assert lines[0] == "BTCUSDT · 5m · 101.25"
    assert lines[1] == "RSI dip"
    assert "✓ rsi(14) < 35  [rsi(14) = 28.5]" in lines
    assert "✓ close > ema(close, 100)  [close = 101.25, ema(close, 100) = 99]" in lines
    assert lines[-1].endswith(f"https://vyx.example/?signal={n.signal_id}")
    with_verdict = render.signal_text(n, render.PLAIN, verdict=verdict(n))
    assert "Analysis: ENTER TRADE (72%) · entry 101.25, stop 97.5, target 110" in with_verdict


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.00000123, "0.00000123"), (43210.5, "43210.5"), (1e12, "1000000000000"), (2.0, "2")],
)
def test_numbers_are_never_in_exponent_form(value: float, text: str) -> None:
    assert render.number(value) == text
    assert render.number(float("nan")) == "n/a"


def test_a_digest_groups_by_trader_with_top_n_and_k_more() -> None:
    burst = [(notice(i, trader="rsi-dip", name="RSI dip"), None) for i in range(12)]
    burst += [(notice(i, trader="ema", name="EMA cross"), None) for i in range(2)]
    text = render.digest_text(burst, [], render.PLAIN)
    lines = text.splitlines()
    assert lines[0] == "14 signals"
    assert lines[1] == "RSI dip (12)"
    assert lines[2].startswith("• COIN0USDT 5m @ 101.25 — rsi(14) = 28.5")
    assert lines[1 + render.TOP_N + 1] == "and 7 more"
    assert "EMA cross (2)" in lines
    assert "and 7 more" in lines


def test_digests_of_hundreds_fit_every_service() -> None:
    burst = [
        (notice(i, trader=f"trader-{i % 40}", name=f"Trader {i % 40} " + "x" * 60), None)
        for i in range(300)
    ]
    for markup in (render.TELEGRAM, render.DISCORD, render.PLAIN):
        text = render.digest_text(burst, [], markup, link_base="https://vyx.example")
        assert len(text) <= markup.limit
        assert "300 signals" in text
        assert "more traders" in text
    visible, error = telegram_entities(render.digest_text(burst, [], render.TELEGRAM))
    assert error is None
    assert "300 signals" in visible


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=50, deadline=None)
@given(name=names, label=names, symbol=names)
def test_whatever_a_name_holds_the_html_parses_and_fits(name: str, label: str, symbol: str) -> None:
    n = attrs.evolve(
        notice(0),
        trader_name=name,
        symbol=symbol,
        clauses=(SignalClause(label, True, ((label, 1.0),)), *notice(0).clauses),
    )
    for text in (
        render.signal_text(n, render.TELEGRAM, verdict=verdict(n), link_base="https://x/?a=<b>"),
        render.digest_text([(n, None), (notice(1), None)], [], render.TELEGRAM),
        render.verdict_text(verdict(n), render.TELEGRAM, signal=n),
    ):
        visible, error = telegram_entities(text)
        assert error is None, (error, text)
        assert len(visible) <= render.TELEGRAM.limit
    assert len(render.signal_text(n, render.DISCORD)) <= render.DISCORD.limit
