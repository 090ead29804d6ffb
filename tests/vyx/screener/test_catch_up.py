"""A restart misses no bar: the bars that closed while the daemon was down are screened on start,
with their signals, and the union of both runs' signals is exactly the backtest's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from kernels.backtest import run_backtest
from kernels.klines_csv import Klines
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from vyx.exchange.market import Market
from vyx.exchange.synthetic import SyntheticSource
from vyx.market.closes import BarClosed, HistoryLoaded
from vyx.screener.marks import FILE_NAME, load_marks, save_marks
from vyx.screener.service import Screener, ScreenerConfig
from vyx.signal import Signal

TRADERS = [
    TraderDef("cross", "crosses_above(close, sma(close, 5))", "5m", "cross"),
    TraderDef(
        "mtf",
        'crosses_above(close, ema(close, 8)) and on("1h", close > sma(close, 3))',
        "5m",
        "mtf",
    ),
    TraderDef("hourly", "close > open", "1h", "hourly"),
]
M5, H1 = timeframe_ms("5m"), timeframe_ms("1h")
SOURCE = SyntheticSource(3, seed=3, decoys=False)
SYMBOLS = tuple(info.symbol for info in SOURCE.symbols)


@pytest.fixture(scope="module")
def bars() -> dict[str, dict[str, Klines]]:
    """Three days of 5m and 1h candles of three synthetic pairs."""
    market = Market(SOURCE, ("5m", "1h"))
    start = 1_700_006_400_000 // H1 * H1
    return {
        tf: {
            s: market.closed_bars(s, tf, start, start + 3 * 86_400_000).to_klines() for s in SYMBOLS
        }
        for tf in ("5m", "1h")
    }


class _Run:
    """One daemon run's screener fed by hand: history up to ``loaded_to``, then live closes."""

    def __init__(
        self,
        data: dict[str, dict[str, Klines]],
        resume: dict[str, int] | None,
        traders: list[TraderDef] = TRADERS,
    ) -> None:
        self.data = data
        self.traders = traders
        self.rings = {tf: RingBuffer(timeframe_ms(tf), 400) for tf in data}
        for ring in self.rings.values():
            for s in SYMBOLS:
                ring.add_symbol(s)
        self.signals: list[Signal] = []

        async def sink(signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
            self.signals += signals

        self.screener = Screener(ScreenerConfig(user_id="u"), self.rings, sink, resume=resume)

    def _append(self, tf: str, upto_close: int) -> list[int]:
        """Append every bar of ``tf`` closing by ``upto_close``; their open times."""
        added: set[int] = set()
        ring = self.rings[tf]
        for s in SYMBOLS:
            k = self.data[tf][s]
            slot = ring.slot(s)
            for i in range(len(k)):
                t = int(k.open_time[i])
                if t + timeframe_ms(tf) <= upto_close and t > ring.last_open_time(slot):
                    ring.append(slot, t, k.bars[i, :8])
                    added.add(t)
        return sorted(added)

    async def start(self, loaded_to: int) -> None:
        await self.screener.set_traders(self.traders)
        for tf in ("5m", "1h"):
            self._append(tf, loaded_to)
            await self.screener.handle(HistoryLoaded(tf, SYMBOLS))

    async def live(self, until: int) -> None:
        """Closes one 5m step at a time; the 1h bar closing at the same instant goes first."""
        now = max(self.screener.closed_upto(tf) for tf in self.rings)
        while now < until:
            now += M5
            for tf in ("1h", "5m"):
                for t in self._append(tf, now):
                    await self.screener.handle(BarClosed(tf, t, SYMBOLS, complete=True))


async def test_the_bars_closed_while_down_are_screened_on_restart(
    bars: dict[str, dict[str, Klines]],
) -> None:
    t0 = int(bars["1h"][SYMBOLS[0]].open_time[0])
    history_end = t0 + 30 * H1  # the first start's backfill
    crash = history_end + 40 * M5  # screened up to here, then killed
    restart = crash + 17 * M5 + H1  # backfill of the second start
    end = restart + 30 * M5

    first = _Run(bars, resume=None)
    await first.start(history_end)
    await first.live(crash)
    marks = dict(first.screener.progress)
    assert marks == {"5m": crash, "1h": crash // H1 * H1}

    second = _Run(bars, resume=marks)
    await second.start(restart)
    # Every 5m and 1h bar between the mark and the restart was screened on start.
    assert second.screener.caught_up == (restart - crash) // M5 + (restart // H1 - crash // H1)
    await second.live(end)

    fires = [
        f
        for f in run_backtest(Program(TRADERS), bars)
        if history_end < f.open_time + timeframe_ms(f.timeframe) <= end
    ]
    assert len({f.trader_id for f in fires if crash < f.open_time < restart}) == 3, (
        "every trader fires while the daemon is down"
    )
    got = [(s.trader_id, s.symbol, s.bar_open_time) for s in first.signals + second.signals]
    assert sorted(got) == sorted((f.trader_id, f.symbol, f.open_time) for f in fires)
    # Nothing the first run screened is screened again.
    assert all(s.bar_open_time + M5 > crash for s in second.signals if s.interval == "5m")


async def test_a_mark_behind_the_last_screen_repeats_those_signals_with_the_same_ids(
    bars: dict[str, dict[str, Klines]],
) -> None:
    """Killed after a screen but before its mark was saved: the next start screens those bars
    again; the ids are the same, so the store (upsert by id) still holds each signal once."""
    t0 = int(bars["1h"][SYMBOLS[0]].open_time[0])
    history_end = t0 + 30 * H1
    crash = history_end + 40 * M5
    first = _Run(bars, resume=None)
    await first.start(history_end)
    await first.live(crash)
    stale = {"5m": crash - 12 * M5, "1h": (crash - 12 * M5) // H1 * H1}
    second = _Run(bars, resume=stale)
    await second.start(crash)
    repeated = {s.id for s in first.signals if s.bar_open_time + M5 > stale["5m"]}
    assert repeated, "the scenario should repeat some signals"
    assert {s.id for s in second.signals} == repeated


async def test_without_a_mark_history_gives_no_signals(
    bars: dict[str, dict[str, Klines]],
) -> None:
    t0 = int(bars["1h"][SYMBOLS[0]].open_time[0])
    run = _Run(bars, resume=None)
    await run.start(t0 + 40 * H1)
    assert run.signals == []
    assert run.screener.caught_up == 0


async def test_catch_up_is_bounded(bars: dict[str, dict[str, Klines]]) -> None:
    """A daemon down for long screens at most ``catch_up_ms`` of the bars it missed."""
    t0 = int(bars["1h"][SYMBOLS[0]].open_time[0])
    run = _Run(bars, resume={"5m": t0 + 2 * H1, "1h": t0 + 2 * H1})
    run.screener.cfg = ScreenerConfig(user_id="u", catch_up_ms=10 * M5)
    await run.start(t0 + 40 * H1)
    assert run.screener.caught_up == 10 + 1  # ten 5m bars and the one 1h bar among them
    assert all(s.bar_open_time >= t0 + 40 * H1 - 10 * M5 for s in run.signals)


async def test_marks_file_round_trips_and_bad_files_mean_no_mark(tmp_path: Path) -> None:
    save_marks(tmp_path, {"5m": 1_700_000_100_000 // M5 * M5, "1h": 1_700_006_400_000})
    assert load_marks(tmp_path) == {"5m": 1_700_000_100_000 // M5 * M5, "1h": 1_700_006_400_000}
    for body in ["{", "[]", '{"version": 2, "closed_upto": {}}', '{"version": 1}']:
        (tmp_path / FILE_NAME).write_text(body)
        assert load_marks(tmp_path) == {}
    # Unknown timeframes and misaligned or non-integer times are dropped, the rest kept.
    (tmp_path / FILE_NAME).write_text(
        '{"version": 1, "closed_upto": {"5m": 300000, "7m": 420000, "1h": 1000, "15m": "x"}}'
    )
    assert load_marks(tmp_path) == {"5m": 300000}
    assert not (tmp_path / (FILE_NAME.replace(".json", ".tmp"))).exists()


async def test_a_slot_filled_but_not_yet_announced_is_not_screened(
    bars: dict[str, dict[str, Klines]],
) -> None:
    """The market writes a symbol's history into its ring before it announces it; a close of
    the other symbols in between must not step that ring from its first bar with signals on
    (it fired on bars days old), and once announced it is warmed silently."""
    t0 = int(bars["1h"][SYMBOLS[0]].open_time[0])
    run = _Run(bars, resume=None)
    await run.screener.set_traders(TRADERS)
    loaded_to = t0 + 30 * H1
    for tf in ("5m", "1h"):
        run._append(tf, loaded_to)
        await run.screener.handle(HistoryLoaded(tf, SYMBOLS[:1]))
    await run.live(loaded_to + 20 * M5)
    assert run.signals, "the announced symbol fires"
    assert {s.symbol for s in run.signals} == {SYMBOLS[0]}
    late = len(run.signals)
    for tf in ("5m", "1h"):
        await run.screener.handle(HistoryLoaded(tf, SYMBOLS[1:]))
    assert len(run.signals) == late, "announcing history fires nothing"
    await run.live(loaded_to + 60 * M5)
    assert {s.symbol for s in run.signals[late:]} == set(SYMBOLS)
    assert min(s.bar_open_time for s in run.signals) >= loaded_to


async def test_catch_up_waits_for_a_longer_bar_not_loaded_yet(
    bars: dict[str, dict[str, Klines]],
) -> None:
    """The 1h history was fetched just before an hour closed, the 5m history just after: the 5m
    bars after that hour must not be screened with the hour before's values (they would be,
    and fire otherwise than the backtest); they are screened once the hour's bar is in."""
    t0 = int(bars["1h"][SYMBOLS[0]].open_time[0])
    history_end = t0 + 30 * H1
    crash = history_end + 40 * M5
    restart = (crash // H1 + 3) * H1 + 4 * M5  # three hours down, four 5m bars into the next
    traders = [*TRADERS, TraderDef("hour", 'on("1h", close > open)', "5m", "hour")]
    first = _Run(bars, resume=None, traders=traders)
    await first.start(history_end)
    await first.live(crash)
    second = _Run(bars, resume=dict(first.screener.progress), traders=traders)
    await second.screener.set_traders(traders)
    second._append("5m", restart)
    # The hours closing 20 and 80 minutes ago are missing.
    second._append("1h", restart - 4 * M5 - 2 * H1)
    for tf in ("5m", "1h"):
        await second.screener.handle(HistoryLoaded(tf, SYMBOLS))
    held_back = len(second.signals)
    await second.live(restart + 12 * M5)  # the missing hour arrives first, then 5m closes
    assert second.screener.caught_up < (restart - crash) // M5 + 3, "catch-up stopped early"
    assert len(second.signals) > held_back

    fires = {
        (f.trader_id, f.symbol, f.open_time): f
        for f in run_backtest(Program(traders), bars)
        if history_end < f.open_time + timeframe_ms(f.timeframe) <= restart + 12 * M5
    }
    got = {(s.trader_id, s.symbol, s.bar_open_time): s for s in first.signals + second.signals}
    assert any(k[0] == "hour" and k[2] > restart - 4 * M5 - 2 * H1 for k in fires)
    assert set(got) == set(fires)
    for key, s in got.items():
        for label, clause in fires[key].clauses.items():
            assert s.indicator_data[label]["values"] == pytest.approx(clause["values"], rel=1e-9)
