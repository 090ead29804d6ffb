"""The user's mutes on the machine: the value, the ``mute`` command, the store (SQLite here;
PostgreSQL in ``tests/vyx/store/supabase/test_on_postgres.py``), the copy for a start while
the store is down, and what browsers are told."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.vyx.control_harness import control_over
from tests.vyx.screener.rings import ScreenerRun, filled_rings
from vyx.daemon.muting import MuteKeeper
from vyx.mutes import MAX_MUTES, Mute, MuteError, Mutes, check_symbol, read_copy, write_copy
from vyx.server.interface import CommandRejected
from vyx.server.protocol import (
    ProtocolError,
    SetMute,
    TraderRemove,
    TraderUpsert,
    parse_client_message,
)
from vyx.settings import StoreConfig
from vyx.store.errors import StoreUnavailable
from vyx.store.service import run_store
from vyx.traders import TraderRejected

USER = "local"


def _parse(data: Mapping[str, Any]) -> Any:
    return parse_client_message(json.dumps({"type": "mute", "data": data}))


def test_the_mute_command_names_one_symbol_or_trader() -> None:
    assert _parse({"symbol": "btcusdt"}) == SetMute("symbol", "BTCUSDT", True)
    assert _parse({"traderId": "t1", "muted": False, "requestId": 7}) == SetMute(
        "trader", "t1", False, 7
    )
    for bad, says in (
        ({}, "one of symbol or traderId"),
        ({"symbol": "BTCUSDT", "traderId": "t1"}, "one of symbol or traderId"),
        ({"symbol": "BTC-USDT"}, "2 to 20 letters or digits"),
        ({"symbol": "X" * 21}, "2 to 20 letters or digits"),
        ({"symbol": 5}, "2 to 20 letters or digits"),
        ({"symbol": "\ufb00usdt"}, "2 to 20 letters or digits"),  # upper-cases to FFUSDT
        ({"symbol": "BTC\u0000USD"}, "2 to 20 letters or digits"),
        ({"symbol": "BTCUSDT", "muted": "yes"}, "muted must be true or false"),
        ({"traderId": "t" * 500}, "traderId"),
    ):
        with pytest.raises(ProtocolError, match=says):
            _parse(bad)


def test_mutes_are_bounded_and_cover_symbols_and_traders() -> None:
    mutes = Mutes().changed(Mute("symbol", "BTCUSDT"), True).changed(Mute("trader", "t1"), True)
    assert mutes.covers("t2", "BTCUSDT")
    assert mutes.covers("t1", "ETHUSDT")
    assert mutes.covers("t1")
    assert not mutes.covers("t2", "ETHUSDT")
    assert mutes.changed(Mute("symbol", "BTCUSDT"), True) is mutes  # twice: no change
    assert mutes.to_message() == {"symbols": ["BTCUSDT"], "traders": ["t1"]}
    full = Mutes.of(Mute("symbol", f"S{i}USDT") for i in range(MAX_MUTES + 5))
    assert len(full) == MAX_MUTES
    with pytest.raises(MuteError, match=f"at most {MAX_MUTES} mutes"):
        full.changed(Mute("trader", "t1"), True)
    assert len(full.changed(Mute("symbol", "S0USDT"), False)) == MAX_MUTES - 1
    assert check_symbol("ethusdt") == "ETHUSDT"


def test_the_copy_round_trips_and_a_broken_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "mutes.json"
    mutes = Mutes(frozenset({"BTCUSDT"}), frozenset({"t1"}))
    write_copy(path, mutes, USER)
    assert read_copy(path, USER) == mutes
    assert read_copy(path, "another-user") is None  # a data directory reused under another id
    path.write_text("{not json")
    assert read_copy(path, USER) is None
    assert read_copy(tmp_path / "none.json", USER) is None


class _DownStore:
    """A store that cannot answer (Supabase unreachable)."""

    async def load_mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        raise StoreUnavailable("supabase: load mutes: gave up after 3 attempts")

    async def set_mute(self, user_id: str, kind: str, target: str, *, muted: bool) -> None:
        raise StoreUnavailable("supabase: save mute: gave up after 3 attempts")


async def test_mutes_are_kept_in_the_store_and_told_to_the_notifier_and_browsers(
    tmp_path: Path,
) -> None:
    told: list[Mutes] = []
    sent: list[Mapping[str, Any]] = []
    copy = tmp_path / "mutes.json"
    traders = {"t1": object()}
    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_store, StoreConfig(tmp_path))
        keeper = MuteKeeper(store, USER, copy=copy, on_change=told.append, broadcast=sent.append)
        assert await keeper.load() == Mutes()
        await keeper.set(SetMute("symbol", "BTCUSDT"), traders)
        await keeper.set(SetMute("trader", "t1"), traders)
        await keeper.set(SetMute("symbol", "BTCUSDT"), traders)  # again: nothing changes
        with pytest.raises(CommandRejected, match="no trader 'gone'"):
            await keeper.set(SetMute("trader", "gone"), traders)
        assert sorted(await store.load_mutes(USER, 10)) == [("symbol", "BTCUSDT"), ("trader", "t1")]
        assert await store.load_mutes("someone-else", 10) == []
        await keeper.set(SetMute("trader", "t1", muted=False), traders)
        # A restart reads them back.
        again = MuteKeeper(store, USER)
        assert await again.load() == Mutes(frozenset({"BTCUSDT"}))
        nursery.cancel_scope.cancel()
    assert [m.to_message() for m in told] == [
        {"symbols": [], "traders": []},
        {"symbols": ["BTCUSDT"], "traders": []},
        {"symbols": ["BTCUSDT"], "traders": ["t1"]},
        {"symbols": ["BTCUSDT"], "traders": []},
    ]
    assert [m["type"] for m in sent] == ["mutes_updated"] * 3
    assert sent[-1]["data"] == {"symbols": ["BTCUSDT"], "traders": []}
    assert read_copy(copy, USER) == Mutes(frozenset({"BTCUSDT"}))


async def test_a_store_that_cannot_answer_starts_from_the_copy_and_refuses_changes(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "mutes.json"
    write_copy(copy, Mutes(frozenset({"ETHUSDT"})), USER)
    told: list[Mutes] = []
    keeper = MuteKeeper(_DownStore(), USER, copy=copy, on_change=told.append)  # type: ignore[arg-type]
    assert await keeper.load() == Mutes(frozenset({"ETHUSDT"}))
    assert told == [Mutes(frozenset({"ETHUSDT"}))]
    other = MuteKeeper(_DownStore(), "another-user", copy=copy)  # type: ignore[arg-type]
    assert await other.load() == Mutes()  # not another user's copy
    with pytest.raises(CommandRejected, match="the mute could not be saved: supabase"):
        await keeper.set(SetMute("symbol", "BTCUSDT"), {})
    assert keeper.mutes == Mutes(frozenset({"ETHUSDT"}))  # unchanged
    assert told == [Mutes(frozenset({"ETHUSDT"}))]


class _SlowStore:
    """Saves a mute whatever happens, answering seconds later (a write that completes)."""

    def __init__(self) -> None:
        self.rows: set[tuple[str, str]] = set()

    async def load_mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        return sorted(self.rows)

    async def set_mute(self, user_id: str, kind: str, target: str, *, muted: bool) -> None:
        (self.rows.add if muted else self.rows.discard)((kind, target))
        with trio.CancelScope(shield=True):
            await trio.sleep(5)


async def test_a_mute_saved_as_the_browser_leaves_is_applied_whole(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The browser's command deadline (or its leaving) cancels ``mute`` once the store saved
    it: the notifier, the copy and the browsers follow the keeper all the same (the cancel
    landed on the copy's write: the keeper held the mute, the notifier still alerted it, and
    no browser was told)."""
    store = _SlowStore()
    told: list[Mutes] = []
    sent: list[Mapping[str, Any]] = []
    copy = tmp_path / "mutes.json"
    keeper = MuteKeeper(store, USER, copy=copy, on_change=told.append, broadcast=sent.append)  # type: ignore[arg-type]
    with trio.move_on_after(1):
        await keeper.set(SetMute("symbol", "BTCUSDT"), {})
    assert store.rows == {("symbol", "BTCUSDT")}
    assert keeper.mutes == Mutes(frozenset({"BTCUSDT"}))
    assert told == [keeper.mutes]
    assert read_copy(copy, USER) == keeper.mutes
    assert [m["data"] for m in sent] == [{"symbols": ["BTCUSDT"], "traders": []}]


async def test_a_browser_mutes_through_control_and_sees_the_mutes_on_connect(
    tmp_path: Path,
) -> None:
    run = ScreenerRun(filled_rings())
    async with control_over(run, tmp_path, user_id=USER, persist=False) as (control, store):
        with pytest.raises(CommandRejected, match="mute is not supported"):
            await control.handle(SetMute("symbol", "BTCUSDT"))
        control.mutes = MuteKeeper(store, USER)
        await control.mutes.load()
        await control.handle(SetMute("symbol", "BTCUSDT"))
        assert control.snapshot().status["mutes"] == {"symbols": ["BTCUSDT"], "traders": []}
        # Traders from a file (not persisted): the page is told its edits are not kept.
        assert control.snapshot().status["editsKept"] is False


class _RowsStore:
    """Answers ``load_mutes`` with whatever rows it holds (written elsewhere: anything)."""

    def __init__(self, rows: list[tuple[Any, Any]]) -> None:
        self.rows = rows
        self.limits: list[int] = []

    async def load_mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        self.limits.append(limit)
        return list(self.rows)[:limit]


async def test_mutes_changed_elsewhere_are_read_again_and_told(tmp_path: Path) -> None:
    told: list[Mutes] = []
    sent: list[Mapping[str, Any]] = []
    copy = tmp_path / "mutes.json"
    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_store, StoreConfig(tmp_path))
        keeper = MuteKeeper(store, USER, copy=copy, on_change=told.append, broadcast=sent.append)
        await keeper.load()
        # another machine of the user (or the web app) mutes a symbol in the shared store
        await store.set_mute(USER, "symbol", "ETHUSDT", muted=True)
        assert await keeper.refresh()
        assert keeper.mutes == Mutes(frozenset({"ETHUSDT"}))
        assert told[-1] == keeper.mutes
        assert sent[-1] == {
            "type": "mutes_updated",
            "data": {"symbols": ["ETHUSDT"], "traders": []},
        }
        assert read_copy(copy, USER) == keeper.mutes
        assert not await keeper.refresh()  # the same: nobody told twice
        assert len(sent) == 1
        nursery.cancel_scope.cancel()
    down = MuteKeeper(_DownStore(), USER, on_change=told.append)  # type: ignore[arg-type]
    down.mutes = Mutes(frozenset({"BTCUSDT"}))
    assert not await down.refresh()
    assert down.mutes == Mutes(frozenset({"BTCUSDT"}))  # the ones in use stay


async def test_malformed_stored_mutes_are_left_out_and_the_read_is_bounded() -> None:
    rows: list[tuple[Any, Any]] = [
        ("symbol", "btc-usdt"),
        ("symbol", "ethusdt"),  # written by hand: read as ETHUSDT
        ("symbol", "X" * 5000),
        ("trader", ""),
        ("trader", "t" * 129),
        ("volume", "t1"),
        ("trader", "t9"),
        *[("symbol", f"S{i}USDT") for i in range(MAX_MUTES)],
    ]
    store = _RowsStore(rows)
    keeper = MuteKeeper(store, USER)  # type: ignore[arg-type]
    assert await keeper.refresh()
    assert store.limits == [MAX_MUTES]
    assert {"ETHUSDT"} <= keeper.mutes.symbols
    assert keeper.mutes.traders == {"t9"}
    assert not any("-" in s or len(s) > 20 for s in keeper.mutes.symbols)
    assert len(keeper.mutes) == MAX_MUTES - 5


async def test_a_removed_trader_takes_its_mute_with_it(tmp_path: Path) -> None:
    run = ScreenerRun(filled_rings())
    sent: list[Mapping[str, Any]] = []
    async with control_over(run, tmp_path, user_id=USER, persist=True) as (control, store):
        control.mutes = MuteKeeper(store, USER, broadcast=sent.append)
        await control.mutes.load()
        for tid in ("up", "down"):
            row = {"id": tid, "name": tid, "filter": {"code": "close > open", "language": "vyx"}}
            await control.handle(TraderUpsert(row))
            await control.handle(SetMute("trader", tid))
        await control.handle(SetMute("symbol", "BTCUSDT"))
        await control.handle(TraderRemove("down"))
        assert control.mutes.mutes == Mutes(frozenset({"BTCUSDT"}), frozenset({"up"}))
        assert sorted(await store.load_mutes(USER, 10)) == [("symbol", "BTCUSDT"), ("trader", "up")]
        assert sent[-1]["data"] == {"symbols": ["BTCUSDT"], "traders": ["up"]}
        # a trader that leaves the running set otherwise (disabled, a reload) keeps its mute
        await control.apply([], [TraderRejected("up", "does not compile")])
        assert control.mutes.mutes.traders == {"up"}
        await control.apply([])
        assert control.mutes.mutes.traders == {"up"}
