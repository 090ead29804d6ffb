"""Where the daemon's traders come from: the traders file, the cloud machine's trader sync or
the store's ``traders`` table; the first load of them, the history their rings keep (read
from each trader's compiled filter: nothing is compiled here but a trader made by hand), and
their first install."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import attrs
import trio
from loguru import logger

from kernels.lang import MAX_RING
from kernels.program import CompiledTrader
from vyx.config import Config
from vyx.daemon.control import Control
from vyx.server.interface import CommandRejected
from vyx.store.api import Store
from vyx.store.records import Trader
from vyx.traders import TraderInfo, TraderRejected, compiled, from_record

if TYPE_CHECKING:
    from vyx.daemon.cloud import CloudMachine

#: Traders loader: every trader to run and the ones rejected (with reasons).
TraderSource = Callable[[], Awaitable[tuple[list[TraderInfo], list[TraderRejected]]]]


@attrs.frozen
class Intake:
    """Where the traders come from, and the first load of them."""

    #: ``config_update`` reloads from here.
    load: TraderSource
    traders: list[TraderInfo]
    rejected: list[TraderRejected]
    #: The cloud machine's trader sync installs them (and its later updates).
    synced: bool


async def open_intake(
    cfg: Config, from_file: TraderSource | None, store: Store, cloud: CloudMachine | None
) -> Intake:
    """The traders' source (the file, the cloud machine's sync or the store) and its first load."""
    load: TraderSource
    if from_file is not None:
        load = from_file
    elif cloud is not None:
        load = cloud.reload
    else:
        load = partial(store_traders, store, cfg.machine.user_id)
    synced = cloud is not None and from_file is None
    traders, rejected = cloud.traders.current() if cloud and synced else await load()
    if any(t.compiled is None for t in traders):  # made by hand, not admitted
        traders = await trio.to_thread.run_sync(_compile_all, traders, abandon_on_cancel=True)
    return Intake(load, traders, rejected, synced)


def _compile_all(traders: Sequence[TraderInfo]) -> list[TraderInfo]:
    return [compiled(t) for t in traders]


def ring_capacity(traders: Sequence[TraderInfo]) -> dict[str, int]:
    """Closed bars to keep per timeframe: every trader's warm-up (from its compiled filter)
    plus a margin (at most :data:`MAX_RING`; a trader that needs more is refused when it is
    installed)."""
    need: dict[str, int] = {}
    for t in traders:
        # Traders that do not compile are left out here and reported by Control.apply.
        compiled = t.executable
        if isinstance(compiled, CompiledTrader):
            for tf, bars in compiled.warmup.items():
                need[tf] = max(need.get(tf, 0), bars)
    return {tf: min(MAX_RING, max(300, int(n * 1.2) + 20)) for tf, n in need.items()}


async def store_traders(
    store: Store, user_id: str
) -> tuple[list[TraderInfo], list[TraderRejected]]:
    """Every trader of ``user_id`` in the store that belongs on this machine (admitted in a
    worker thread)."""
    rows = await store.load_traders(user_id)
    return await trio.to_thread.run_sync(_admit_rows, rows, abandon_on_cancel=True)


def _admit_rows(rows: Sequence[Trader]) -> tuple[list[TraderInfo], list[TraderRejected]]:
    infos, rejected = [], []
    for row in rows:
        if not row.enabled_in_cloud:
            continue
        try:
            infos.append(from_record(row))
        except TraderRejected as exc:
            rejected.append(exc)
    return infos, rejected


async def install_first(intake: Intake, control: Control, cloud: CloudMachine | None) -> None:
    """The first traders, through :meth:`Control.apply` (the cloud machine's sync from now on,
    in cloud mode); a set that cannot be installed is said, never a reason to stop."""
    if cloud is not None and intake.synced:
        await cloud.traders.attach(control)
        return
    try:
        await control.apply(intake.traders, intake.rejected)
    except CommandRejected as exc:
        logger.error("{}", exc.message)
