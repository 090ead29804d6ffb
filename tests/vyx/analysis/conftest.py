"""Analyzer fixtures: the fake Gemini, real BTCUSDT candles, signals, an in-memory store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kernels.klines_csv import Klines, load_klines
from kernels.ring import N_FIELDS
from tests.vyx.analysis.fake_gemini import FakeGemini
from vyx.analysis import AnalysisContext, Candles, TraderSettings
from vyx.settings import AnalyzerConfig
from vyx.signal import Signal, signal_id

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
KEY = "test-key-123"


class MemoryStore:
    """The part of the Store protocol the analyzer uses, in memory."""

    def __init__(self) -> None:
        self.analyses: dict[str, dict[str, Any]] = {}
        self.writes = 0

    async def save_analysis(self, row: Mapping[str, Any]) -> None:
        self.writes += 1
        self.analyses[str(row["signal_id"])] = dict(row)

    async def flush(self) -> None:
        self.flushes = getattr(self, "flushes", 0) + 1


@pytest.fixture(scope="session")
def btc_1h(shared_data: Path) -> Klines:
    return load_klines(shared_data / "binance/klines/spot_1h/BTCUSDT-1h-2025-06-01_2025-09-30.csv")


def candles_until(klines: Klines, end: int, n: int = 1000, tf: str = "1h") -> Candles:
    """The ``n`` closed candles before bar index ``end`` (exclusive), as the ring holds them."""
    lo = max(0, end - n)
    values = klines.bars[lo:end, :N_FIELDS].T.copy()
    return Candles("BTCUSDT", tf, klines.open_time[lo:end].astype(np.int64), values)


def trader(**strategy: Any) -> TraderSettings:
    auto = strategy.pop("auto", True)
    strategy.setdefault("instructions", "Only take longs in an uptrend; avoid chasing spikes.")
    strategy.setdefault("riskManagement", {"stopLoss": 2, "takeProfit": 4, "maxPositions": 3})
    return TraderSettings.from_strategy("trader-1", "RSI dip buyer", auto, strategy)


def signal_at(
    candles: Candles, *, trader_id: str = "trader-1", provisional: bool = False
) -> Signal:
    """A signal of ``trader_id`` at the newest of ``candles``."""
    t = int(candles.open_time[-1])
    close = float(candles.field("close")[-1])
    return Signal(
        id=signal_id(trader_id, candles.symbol, candles.timeframe, t),
        trader_id=trader_id,
        user_id=USER,
        symbol=candles.symbol,
        interval=candles.timeframe,
        price=close,
        bar_open_time=t,
        matched_conditions=("rsi(14) < 40",),
        indicator_data={"rsi(14) < 40": {"held": True, "values": {"rsi(14)": 37.25}}},
        created_at=t + 3_600_000,
        provisional=provisional,
    )


class Signals:
    """Distinct signals (one per bar) with their contexts."""

    def __init__(self, klines: Klines) -> None:
        self.klines = klines

    def make(
        self,
        i: int,
        settings: TraderSettings | None = None,
        *,
        priority: int = 0,
        provisional: bool = False,
    ) -> tuple[Signal, AnalysisContext]:
        settings = settings or trader()
        candles = candles_until(self.klines, 1200 + i)
        sig = signal_at(candles, trader_id=settings.id, provisional=provisional)
        return sig, AnalysisContext(settings, candles, priority)


@pytest.fixture
def signals(btc_1h: Klines) -> Signals:
    return Signals(btc_1h)


@pytest.fixture
def fake(shared_data: Path) -> FakeGemini:
    return FakeGemini(shared_data, api_key=KEY)


def config(**overrides: Any) -> AnalyzerConfig:
    values: dict[str, Any] = {
        "api_key": KEY,
        "model": "gemini-2.5-flash",
        "base_url": "http://gemini.fake",
        "max_concurrency": 4,
        "requests_per_minute": 60,
        "timeout_s": 30.0,
        "daily_token_budget": 0,
    }
    values.update(overrides)
    return AnalyzerConfig(**values)
