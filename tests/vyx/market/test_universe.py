"""Universe selection from the real recorded exchangeInfo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vyx.market.universe import (
    UniverseChange,
    UniverseConfig,
    UniverseError,
    is_leveraged,
    request_weight_limit,
    select_universe,
)


@pytest.fixture
def exchange_info(shared_data: Path) -> dict[str, Any]:
    path = shared_data / "binance" / "rest" / "exchangeInfo_spot_2021-10-12_USDT.json"
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def _tickers(info: dict[str, Any]) -> list[dict[str, Any]]:
    # Volume by reverse position so every symbol, leveraged and stable ones too, ranks somewhere.
    n = len(info["symbols"])
    return [
        {"symbol": s["symbol"], "quoteVolume": str(float(n - i)), "lastPrice": "1"}
        for i, s in enumerate(info["symbols"])
    ]


def test_top_n_excludes_stable_leveraged_and_halted(exchange_info: dict[str, Any]) -> None:
    chosen = select_universe(UniverseConfig(count=1000), exchange_info, _tickers(exchange_info))
    by_symbol = {s["symbol"]: s for s in exchange_info["symbols"]}
    assert chosen
    assert all(by_symbol[s]["status"] == "TRADING" for s in chosen)
    assert all(by_symbol[s]["quoteAsset"] == "USDT" for s in chosen)
    bases = {by_symbol[s]["baseAsset"] for s in chosen}
    for excluded in ("BTCUP", "BTCDOWN", "AAVEUP", "USDC", "BUSD", "TUSD", "PAX", "DAI", "EUR"):
        assert excluded not in bases
    for kept in ("BTC", "ETH", "BNB", "SUSHI", "SXP", "SUPER", "TROY"):
        assert kept in bases or by_symbol.get(kept + "USDT", {}).get("status") != "TRADING"
    assert "BTCUSDT" in chosen
    # 315 TRADING, minus leveraged (40) and stablecoin/fiat bases.
    assert 250 < len(chosen) < 275


def test_ranking_is_by_quote_volume(exchange_info: dict[str, Any]) -> None:
    tickers = [
        {"symbol": "ETHUSDT", "quoteVolume": "900"},
        {"symbol": "BTCUSDT", "quoteVolume": "1000"},
        {"symbol": "BTCUPUSDT", "quoteVolume": "5000"},
        {"symbol": "USDCUSDT", "quoteVolume": "4000"},
        {"symbol": "BULLUSDT", "quoteVolume": "3000"},
        {"symbol": "DOGEUSDT", "quoteVolume": "800"},
        {"symbol": "BAD", "quoteVolume": None},
    ]
    assert select_universe(UniverseConfig(count=2), exchange_info, tickers) == (
        "BTCUSDT",
        "ETHUSDT",
    )
    three = select_universe(UniverseConfig(count=3), exchange_info, tickers)
    assert three == ("BTCUSDT", "ETHUSDT", "DOGEUSDT")


def test_jup_stays_btcup_goes(exchange_info: dict[str, Any]) -> None:
    info = json.loads(json.dumps(exchange_info))
    jup = {
        "symbol": "JUPUSDT",
        "status": "TRADING",
        "baseAsset": "JUP",
        "quoteAsset": "USDT",
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }
    info["symbols"].append(jup)
    tickers = [
        {"symbol": "JUPUSDT", "quoteVolume": "10"},
        {"symbol": "BTCUPUSDT", "quoteVolume": "20"},
    ]
    assert select_universe(UniverseConfig(count=5), info, tickers) == ("JUPUSDT",)
    assert not is_leveraged("JUP", {"BTC", "ETH"})
    assert is_leveraged("BTCUP", {"BTC"})
    assert is_leveraged("BNBBEAR", {"BNB"})
    assert not is_leveraged("SUPER", {"SUP"})


def test_explicit_list_keeps_order_and_drops_halted(exchange_info: dict[str, Any]) -> None:
    halted = next(s["symbol"] for s in exchange_info["symbols"] if s["status"] != "TRADING")
    cfg = UniverseConfig(symbols=("ETHUSDT", halted, "BTCUSDT", "ETHUSDT", "NOPEUSDT"))
    assert select_universe(cfg, exchange_info, []) == ("ETHUSDT", "BTCUSDT")


def test_weight_limit_and_bad_bodies(exchange_info: dict[str, Any]) -> None:
    assert request_weight_limit(exchange_info) == 1200
    assert request_weight_limit({}) is None
    with pytest.raises(UniverseError):
        select_universe(UniverseConfig(), {"symbols": [{"symbol": "X"}]}, [])
    with pytest.raises(UniverseError):
        select_universe(UniverseConfig(), {}, [])


def test_universe_change() -> None:
    change = UniverseChange.between(("A", "B", "C"), ("C", "D", "A"))
    assert change == UniverseChange(joined=("D",), left=("B",))
    assert not UniverseChange.between(("A",), ("A",))
