"""Alerts to build notices from, and the service fakes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import httpx
import pytest
import trio

from tests.vyx.notify.fakes import FakeDiscord, FakeReceiver, FakeService, FakeTelegram
from tests.vyx.store.supabase.fake_postgrest import serve_tcp
from vyx.notify.notices import SignalNotice, VerdictNotice, clauses_of
from vyx.signal import signal_id

TOKEN = "123456789:AAFakeTokenForTests_xyz"
HOOK_ID = "112233445566778899"
HOOK_TOKEN = "hook-token_ABCdef.123456"

S = TypeVar("S", bound=FakeService)


def notice(
    i: int = 0,
    *,
    trader: str = "rsi-dip",
    name: str | None = None,
    symbol: str | None = None,
    interval: str = "5m",
    bar: int = 1_700_000_100_000,
) -> SignalNotice:
    """A signal notice like the screener's: two clauses with their values."""
    symbol = symbol or f"COIN{i}USDT"
    data = {
        "rsi(14) < 35": {"held": True, "values": {"rsi(14)": 28.5 + i / 100}},
        "close > ema(close, 100)": {
            "held": True,
            "values": {"close": 101.25 + i, "ema(close, 100)": 99.0 + i},
        },
    }
    return SignalNotice(
        signal_id=signal_id(trader, symbol, interval, bar),
        trader_id=trader,
        trader_name=name or trader.replace("-", " ").title(),
        symbol=symbol,
        interval=interval,
        price=101.25 + i,
        bar_open_time=bar,
        clauses=clauses_of(data),
    )


def verdict(n: SignalNotice, decision: str = "enter_trade", confidence: int = 72) -> VerdictNotice:
    """An analysis of ``n``."""
    return VerdictNotice(
        signal_id=n.signal_id,
        trader_id=n.trader_id,
        decision=decision,
        confidence=confidence,
        reasoning="RSI recovered from oversold while price holds above the EMA.",
        levels=(("entry", 101.25), ("stopLoss", 97.5), ("takeProfit", 110.0)),
    )


async def serve(nursery: trio.Nursery, fake: S) -> str:
    """Serve ``fake`` on a free port; its base URL."""
    port = await nursery.start(serve_tcp, fake)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram(TOKEN)


@pytest.fixture
def discord() -> FakeDiscord:
    return FakeDiscord({HOOK_ID: HOOK_TOKEN})


@pytest.fixture
def receiver() -> FakeReceiver:
    return FakeReceiver()
