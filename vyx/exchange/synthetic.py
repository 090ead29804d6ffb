"""A seeded synthetic market: log-price random walks with volatility regimes, 1m candles.

Random access, no drift with the start time: a coarse daily pass per symbol (from
``origin_ms``) draws each day's regime (calm, normal, wild: a sticky Markov chain), its closing
price (a mean-reverting walk in log price), its trade count and quote volume. The minutes of a day
are then a Brownian bridge between that day's anchor price and the next one, drawn from a
generator seeded by ``(seed, symbol, day)``; so any day can be produced alone, in any order, and
the same seed always gives the same candles. Volume follows activity and the size of the move,
trade ids are cumulative (a day's first id comes from the coarse pass), the taker-buy share leans
with the direction of the minute.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from kernels.timeframes import DAY_MS, MINUTE_MS
from vyx.exchange.candles import (
    CLOSE_COL,
    FIRST_TRADE_COL,
    HIGH_COL,
    LOW_COL,
    N_COLS,
    OPEN_COL,
    OPEN_TIME_COL,
    QUOTE_VOLUME_COL,
    SCALE,
    TAKER_BASE_COL,
    TAKER_QUOTE_COL,
    TRADES_COL,
    VOLUME_COL,
    Bars,
)
from vyx.exchange.source import SourceError, SymbolInfo, SymbolKind

#: 2020-01-01 00:00 UTC: synthetic history starts here.
DEFAULT_ORIGIN_MS = 1_577_836_800_000
MINUTES_PER_DAY = DAY_MS // MINUTE_MS
#: Volatility multiplier of each regime (calm, normal, wild).
REGIME_VOL = np.array([0.55, 1.0, 2.2])
#: Probability that a day keeps the previous day's regime.
REGIME_STICKINESS = 0.93
_COARSE_BLOCK = 256

# symbol, base, price, tick, step, daily quote volume (USDT), daily trades, daily vol
_NAMED: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("BTC", 65000.0, 0.01, 0.00001, 1.5e9, 1.6e6, 0.028),
    ("ETH", 3200.0, 0.01, 0.0001, 8.0e8, 1.0e6, 0.035),
    ("SOL", 150.0, 0.01, 0.001, 4.0e8, 6.5e5, 0.045),
    ("BNB", 580.0, 0.01, 0.001, 1.5e8, 3.0e5, 0.03),
    ("XRP", 0.55, 0.0001, 1.0, 2.0e8, 3.0e5, 0.04),
    ("DOGE", 0.15, 0.00001, 1.0, 1.5e8, 2.5e5, 0.05),
    ("ADA", 0.45, 0.0001, 0.1, 5.0e7, 1.2e5, 0.045),
    ("AVAX", 35.0, 0.01, 0.01, 5.0e7, 1.1e5, 0.05),
    ("LINK", 15.0, 0.01, 0.01, 5.0e7, 9.0e4, 0.048),
    ("DOT", 7.0, 0.001, 0.01, 3.0e7, 7.0e4, 0.045),
    ("TRX", 0.12, 0.00001, 0.1, 4.0e7, 6.0e4, 0.025),
    ("LTC", 80.0, 0.01, 0.001, 3.0e7, 6.0e4, 0.04),
    ("NEAR", 6.0, 0.001, 0.1, 3.0e7, 6.0e4, 0.055),
    ("SUI", 1.5, 0.0001, 0.1, 6.0e7, 1.0e5, 0.06),
    ("WIF", 2.5, 0.001, 0.01, 5.0e7, 1.0e5, 0.07),
    ("JUP", 0.9, 0.0001, 0.01, 2.0e7, 4.0e4, 0.06),
    ("ATOM", 8.0, 0.001, 0.01, 2.0e7, 4.0e4, 0.045),
    ("UNI", 9.0, 0.001, 0.01, 2.0e7, 4.0e4, 0.05),
    ("ARB", 1.0, 0.0001, 0.1, 2.5e7, 5.0e4, 0.055),
    ("OP", 2.0, 0.001, 0.01, 2.0e7, 4.0e4, 0.055),
    ("APT", 9.0, 0.001, 0.01, 1.5e7, 3.5e4, 0.055),
    ("FIL", 5.0, 0.001, 0.01, 1.5e7, 3.0e4, 0.05),
    ("INJ", 25.0, 0.01, 0.01, 1.5e7, 3.0e4, 0.06),
    ("TON", 5.0, 0.001, 0.01, 2.0e7, 4.0e4, 0.045),
)

# Decoys for universe selection: (symbol, base, quote, status, kind, price, tick, step, qvol, vol)
_DECOYS: tuple[tuple[str, str, str, str, SymbolKind, float, float, float, float, float], ...] = (
    ("USDCUSDT", "USDC", "USDT", "TRADING", SymbolKind.STABLECOIN, 1.0, 0.0001, 1.0, 3e9, 0.0004),
    ("FDUSDUSDT", "FDUSD", "USDT", "TRADING", SymbolKind.STABLECOIN, 1.0, 0.0001, 1.0, 2e9, 0.0004),
    ("TUSDUSDT", "TUSD", "USDT", "TRADING", SymbolKind.STABLECOIN, 1.0, 0.0001, 1.0, 2e8, 0.0006),
    ("BTCUPUSDT", "BTCUP", "USDT", "TRADING", SymbolKind.LEVERAGED, 8.0, 0.001, 0.01, 9e8, 0.08),
    (
        "BTCDOWNUSDT",
        "BTCDOWN",
        "USDT",
        "TRADING",
        SymbolKind.LEVERAGED,
        0.5,
        0.0001,
        0.01,
        9e8,
        0.08,
    ),
    ("ETHUPUSDT", "ETHUP", "USDT", "TRADING", SymbolKind.LEVERAGED, 3.0, 0.001, 0.01, 6e8, 0.09),
    ("LUNAUSDT", "LUNA", "USDT", "BREAK", SymbolKind.NORMAL, 0.5, 0.0001, 0.01, 5e8, 0.05),
    ("ETHBTC", "ETH", "BTC", "TRADING", SymbolKind.OTHER_QUOTE, 0.05, 0.00001, 0.0001, 4e3, 0.02),
)


def _units(value: float) -> int:
    return round(value * SCALE)


class SyntheticSource:
    """Deterministic synthetic 1m candles for ``n_symbols`` pairs plus decoy symbols.

    The first symbols are named after real pairs (BTCUSDT, ETHUSDT, ...) at realistic prices and
    volumes; beyond those come ``SYN0001USDT``... with prices and volumes spread over orders of
    magnitude. ``decoys`` adds stablecoin, leveraged-token, non-trading and non-USDT pairs.
    """

    def __init__(
        self,
        n_symbols: int = 30,
        *,
        seed: int = 0,
        decoys: bool = True,
        origin_ms: int = DEFAULT_ORIGIN_MS,
        cache_days: int = 512,
    ) -> None:
        if n_symbols < 0:
            raise SourceError(f"n_symbols must be >= 0, got {n_symbols}")
        if origin_ms % DAY_MS:
            raise SourceError("origin_ms must be a UTC midnight")
        self._seed = seed
        self._origin_ms = origin_ms
        self._cache_days = cache_days
        infos: list[SymbolInfo] = []
        params: list[tuple[float, float, float, float, float]] = []  # price, qvol, trades, vol, k
        for i in range(n_symbols):
            if i < len(_NAMED):
                base, price, tick, step, qvol, trades, vol = _NAMED[i]
            else:
                rng = np.random.default_rng([seed, 7, i])
                base = f"SYN{i - len(_NAMED) + 1:04d}"
                price = float(10 ** rng.uniform(-2, 3))
                tick = 10.0 ** (math.floor(math.log10(price)) - 4)
                step = 10.0 ** max(-5, min(0, -math.floor(math.log10(price)) - 1))
                qvol = 3e7 / (1 + i - len(_NAMED)) ** 0.7 * float(rng.lognormal(0, 0.3))
                trades, vol = qvol / 400.0 + 5000, float(rng.uniform(0.04, 0.08))
            infos.append(SymbolInfo(f"{base}USDT", base, tick=_units(tick), step=_units(step)))
            params.append((price, qvol, trades, vol, 0.02))
        if decoys:
            for symbol, base, quote, status, kind, price, tick, step, qvol, vol in _DECOYS:
                info = SymbolInfo(symbol, base, quote, status, kind, _units(tick), _units(step))
                infos.append(info)
                reversion = 0.5 if kind is SymbolKind.STABLECOIN else 0.02
                params.append((price, qvol, qvol / 500.0 + 5000, vol, reversion))
        self._infos = tuple(infos)
        self._index = {info.symbol: i for i, info in enumerate(infos)}
        arr = np.array(params, dtype=np.float64).reshape(-1, 5)
        self._log_mu, self._qvol, self._trades = np.log(arr[:, 0]), arr[:, 1], arr[:, 2]
        self._vol, self._reversion = arr[:, 3], arr[:, 4]
        self._hashes = [zlib.crc32(info.symbol.encode()) for info in infos]
        n = len(infos)
        # Coarse per-day state, grown block by block: column d is day origin + d.
        self._anchor = np.empty((n, 0))  # log price at the day's open
        self._regime = np.empty((n, 0), dtype=np.int64)
        self._day_trades = np.empty((n, 0), dtype=np.int64)
        self._day_qvol = np.empty((n, 0))
        self._first_id = np.empty((n, 0), dtype=np.int64)
        self._carry = self._log_mu.copy()
        self._chunks: OrderedDict[tuple[int, int], Bars] = OrderedDict()

    @property
    def base_interval(self) -> str:
        """Always ``"1m"``."""
        return "1m"

    @property
    def symbols(self) -> Sequence[SymbolInfo]:
        """The listed symbols, ordinary pairs first, then the decoys."""
        return self._infos

    def span(self, symbol: str) -> tuple[int, int | None]:
        """History starts at ``origin_ms`` and never ends."""
        return self._origin_ms, None

    def base_bars(self, symbol: str, start_ms: int, end_ms: int) -> Bars:
        """1m bars of ``symbol`` with open time in ``[start_ms, end_ms)`` (none before origin)."""
        s = self._index[symbol]
        start_ms = max(start_ms, self._origin_ms)
        if end_ms <= start_ms:
            return Bars.empty()
        first_day = (start_ms - self._origin_ms) // DAY_MS
        last_day = (end_ms - 1 - self._origin_ms) // DAY_MS
        parts = [self._day(s, d) for d in range(first_day, last_day + 1)]
        return Bars.concat(parts).between(start_ms, end_ms)

    # -- coarse daily pass -------------------------------------------------------------------

    def _ensure_days(self, day: int) -> None:
        """Grow the coarse arrays until day ``day + 1`` (the next anchor) is known."""
        while self._anchor.shape[1] <= day + 1:
            self._extend_coarse()

    def _extend_coarse(self) -> None:
        n, done = len(self._infos), self._anchor.shape[1]
        block = done // _COARSE_BLOCK
        draws = [np.random.default_rng([self._seed, h, 0, block]) for h in self._hashes]
        z = np.stack([g.standard_normal(_COARSE_BLOCK) for g in draws], axis=1)
        u = np.stack([g.random((_COARSE_BLOCK, 2)) for g in draws], axis=1)
        noise = np.stack([g.lognormal(0.0, 0.25, (_COARSE_BLOCK, 2)) for g in draws], axis=1)
        anchor = np.empty((n, _COARSE_BLOCK))
        regime = np.empty((n, _COARSE_BLOCK), dtype=np.int64)
        if done == 0:
            a, r = self._log_mu.copy(), np.ones(n, dtype=np.int64)
        else:
            a, r = self._carry.copy(), self._regime[:, -1]
        for i in range(_COARSE_BLOCK):
            stay = u[i, :, 0] < REGIME_STICKINESS
            r = np.where(stay, r, (r + 1 + (u[i, :, 1] * 2).astype(np.int64)) % 3)
            anchor[:, i], regime[:, i] = a, r
            step = self._vol * REGIME_VOL[r] * z[i]
            a = a + self._reversion * (self._log_mu - a) + step
        activity = REGIME_VOL[regime]
        trades = (self._trades[:, None] * activity**0.7 * noise[:, :, 0].T).astype(np.int64)
        trades = np.maximum(trades, 2 * MINUTES_PER_DAY)
        qvol = self._qvol[:, None] * activity**0.8 * noise[:, :, 1].T
        prev_ids = self._first_id[:, -1] + self._day_trades[:, -1] if done else np.ones(n, np.int64)
        first_ids = prev_ids[:, None] + np.cumsum(trades, axis=1) - trades
        self._anchor = np.concatenate([self._anchor, anchor], axis=1)
        self._regime = np.concatenate([self._regime, regime], axis=1)
        self._day_trades = np.concatenate([self._day_trades, trades], axis=1)
        self._day_qvol = np.concatenate([self._day_qvol, qvol], axis=1)
        self._first_id = np.concatenate([self._first_id, first_ids], axis=1)
        self._carry = a  # the walk's state: log anchor of the next block's first day

    def _price_units(self, s: int, log_price: float | np.ndarray) -> np.ndarray:
        tick = self._infos[s].tick
        units = np.round(np.exp(log_price) * SCALE / tick) * tick
        return np.maximum(units, tick).astype(np.int64)

    # -- one day of minutes ------------------------------------------------------------------

    def _day(self, s: int, day: int) -> Bars:
        key = (s, day)
        cached = self._chunks.get(key)
        if cached is not None:
            self._chunks.move_to_end(key)
            return cached
        bars = self._make_day(s, day)
        self._chunks[key] = bars
        if len(self._chunks) > self._cache_days:
            self._chunks.popitem(last=False)
        return bars

    def _make_day(self, s: int, day: int) -> Bars:
        self._ensure_days(day)
        info, n = self._infos[s], MINUTES_PER_DAY
        g = np.random.default_rng([self._seed, self._hashes[s], 1, day])
        a0, a1 = float(self._anchor[s, day]), float(self._anchor[s, day + 1])
        sigma = self._vol[s] * REGIME_VOL[self._regime[s, day]] / math.sqrt(n)
        minute_vol = sigma * g.lognormal(0.0, 0.35, n)
        walk = np.cumsum(g.standard_normal(n) * minute_vol)
        path = a0 + walk - np.arange(1, n + 1) / n * (walk[-1] - (a1 - a0))
        close = self._price_units(s, path)
        close[-1] = self._price_units(s, a1)
        open_ = np.empty(n, dtype=np.int64)
        open_[0] = self._price_units(s, a0)
        open_[1:] = close[:-1]
        tick = info.tick
        wick_up = np.exp(np.abs(g.standard_normal(n)) * minute_vol * 0.6)
        wick_dn = np.exp(-np.abs(g.standard_normal(n)) * minute_vol * 0.6)
        high = np.ceil(np.maximum(open_, close) * wick_up / tick).astype(np.int64) * tick
        low = np.floor(np.minimum(open_, close) * wick_dn / tick).astype(np.int64) * tick
        high = np.maximum(high, np.maximum(open_, close))
        low = np.clip(low, tick, np.minimum(open_, close))
        move = np.abs(np.diff(np.log(np.concatenate([[open_[0]], close])))) / sigma
        weight = g.lognormal(0.0, 0.5, n) * (1.0 + 0.8 * move)
        weight /= weight.sum()
        price = (open_ + high + low + close) / (4.0 * SCALE)
        quote = self._day_qvol[s, day] * weight
        step = info.step
        volume = np.maximum(np.floor(quote / price * SCALE / step), 1).astype(np.int64) * step
        quote_units = np.round(volume * price).astype(np.int64)
        trades = 1 + g.multinomial(int(self._day_trades[s, day]) - n, weight)
        direction = np.tanh((close - open_) / np.maximum(open_ * sigma, 1e-12))
        share = np.clip(0.5 + 0.25 * direction + g.normal(0.0, 0.05, n), 0.05, 0.95)
        taker_base = (np.floor(volume * share / step) * step).astype(np.int64)
        taker_quote = np.round(quote_units * share).astype(np.int64)
        data = np.empty((n, N_COLS), dtype=np.int64)
        data[:, OPEN_TIME_COL] = self._origin_ms + day * DAY_MS + np.arange(n) * MINUTE_MS
        data[:, OPEN_COL], data[:, HIGH_COL] = open_, high
        data[:, LOW_COL], data[:, CLOSE_COL] = low, close
        data[:, VOLUME_COL], data[:, QUOTE_VOLUME_COL] = volume, quote_units
        data[:, TRADES_COL] = trades
        data[:, TAKER_BASE_COL], data[:, TAKER_QUOTE_COL] = taker_base, taker_quote
        data[:, FIRST_TRADE_COL] = self._first_id[s, day] + np.cumsum(trades) - trades
        return Bars(data)
