"""Fixtures for the simulated exchange: a mock clock that steps over idle real-socket waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection, open_websocket_url

from vyx.exchange import ExchangeConfig, ExchangeHandle, run_exchange

#: Market time the tests start at: 2023-11-14 22:00 UTC (a whole hour).
START_MS = 1_700_000_000_000 // 3_600_000 * 3_600_000

StartExchange = Callable[..., Awaitable[ExchangeHandle]]


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time that jumps once every task has been idle for 2 ms of real time.

    A small real threshold (rather than 0) keeps time still while loopback I/O is in flight.
    """
    mock_clock.autojump_threshold = 0.002
    return mock_clock


@pytest.fixture
def start_exchange(clock: trio.testing.MockClock, nursery: trio.Nursery) -> StartExchange:
    """Start an exchange (port 0, 10 synthetic symbols, fixed start) with config overrides."""

    async def start(**overrides: Any) -> ExchangeHandle:
        settings: dict[str, Any] = {"symbols": 10, "start_ms": START_MS, "speed": 60.0}
        settings.update(overrides)
        handle: ExchangeHandle = await nursery.start(run_exchange, ExchangeConfig(**settings))
        return handle

    return start


@asynccontextmanager
async def _websocket(url: str) -> AsyncIterator[WebSocketConnection]:
    async with open_websocket_url(url) as ws:
        try:
            yield ws
        finally:
            # trio-websocket 0.12 never closes the client's TCP stream when the *server* closed
            # first (aclose returns early once a close reason is set): close it ourselves, or
            # the socket leaks and its ResourceWarning fails a later test.
            await trio.aclose_forcefully(ws._stream)


@pytest.fixture
def connect() -> Callable[[str], AbstractAsyncContextManager[WebSocketConnection]]:
    """``async with connect(url) as ws``: a trio-websocket client that never leaks its socket."""
    return _websocket
