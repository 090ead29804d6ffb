"""Fixtures of the ops tests: the fake Machines API, a client on it, captured log lines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from vyx.fleet.fly_api import FlyMachines
from vyx.fleet.provision import NoMachine, RegistryError, Subscription
from vyx.retry import Backoff, RetryPolicy
from vyx.store.records import MachineRecord

from .fake_fly import FakeFly

#: A token shaped like Fly's; it must never show up in a log line, repr or exception.
TOKEN = "FlyV1 fm2_lJPECAAAAAAAA-SECRET-TOKEN-7f3c9a"


@pytest.fixture
def fake_fly(shared_data: Path) -> FakeFly:
    return FakeFly.from_shared(shared_data, token=TOKEN)


@pytest.fixture
async def fly(fake_fly: FakeFly) -> AsyncIterator[FlyMachines]:
    policy = RetryPolicy(Backoff(initial=0.1, maximum=8.0, jitter=0))
    client = FlyMachines(
        TOKEN, fake_fly.app, base_url=FakeFly.BASE, transport=fake_fly.transport, policy=policy
    )
    async with client:
        yield client


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every loguru message (all levels, with exception tracebacks) while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE", backtrace=True, diagnose=True)
    try:
        yield lines
    finally:
        logger.remove(sink)


class MemoryRegistry:
    """An in-memory :class:`~vyx.fleet.provision.MachineRegistry`."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.rows: dict[str, MachineRecord] = {}
        self.events: list[dict[str, Any]] = []
        self.history: list[MachineRecord] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise RegistryError("database unreachable")

    def subscribe(self, user_id: str, tier: str = "elite", status: str = "active") -> None:
        self.subscriptions[user_id] = Subscription(user_id, tier, status)

    async def subscription(self, user_id: str) -> Subscription | None:
        self._check()
        return self.subscriptions.get(user_id)

    async def machine_of_user(self, user_id: str) -> MachineRecord | None:
        self._check()
        return self.rows.get(user_id)

    async def save_machine(self, record: MachineRecord) -> None:
        self._check()
        self.rows[record.user_id] = record
        self.history.append(record)

    async def delete_machine(self, user_id: str) -> None:
        self._check()
        if self.rows.pop(user_id, None) is None:
            raise NoMachine(user_id)

    async def save_event(self, row: Mapping[str, Any]) -> None:
        self._check()
        self.events.append(dict(row))

    def event_types(self) -> list[str]:
        return [e["event_type"] for e in self.events]


@pytest.fixture
def registry() -> MemoryRegistry:
    return MemoryRegistry()
