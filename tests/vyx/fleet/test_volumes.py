"""A Fly volume per user machine, against the fake Machines API (its requests checked against
the Swagger spec in ``../shared/data/flyio``): created in the machine's region and mounted at
``/data``, reused by re-provisioning and after a destroy, and what lives on it — the store, the
spool and the catch-up mark — still there after a kill and restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.vyx.store.factory import USER as STORE_USER
from tests.vyx.store.factory import make_signal
from vyx.fleet.fly_api import FlyMachines
from vyx.fleet.fly_volumes import Volume, mounted_volume, pick_volume, volume_name
from vyx.fleet.machine_config import ProvisionSettings
from vyx.fleet.provision import Provisioner
from vyx.screener.marks import load_marks, save_marks
from vyx.settings import StoreConfig
from vyx.store import SqliteStore, run_store
from vyx.store.supabase.spool import Spool

from .conftest import MemoryRegistry
from .fake_fly import FakeFly

USER = "11111111-2222-3333-4444-555555555555"
SETTINGS = ProvisionSettings(
    app="vyx-test", image="registry.fly.io/vyx-test:latest", start_timeout_s=30, stop_timeout_s=30
)


@pytest.fixture
def provisioner(fly: FlyMachines, registry: MemoryRegistry) -> Provisioner:
    registry.subscribe(USER)
    return Provisioner(fly, registry, SETTINGS, now_ms=lambda: 1_700_000_000_000)


async def test_a_machine_gets_its_volume_swap_and_metrics(
    provisioner: Provisioner, fake_fly: FakeFly
) -> None:
    machine = (await provisioner.provision(USER, "fra", 1, 256)).machine
    (volume,) = fake_fly.volumes.values()
    assert (volume.name, volume.region, volume.size_gb) == (volume_name(USER), "fra", 1)
    assert len(volume.name) <= 30
    assert volume.attached_machine_id == machine.id
    config = fake_fly.machines[machine.id].config
    assert config["mounts"] == [{"volume": volume.id, "path": "/data"}]
    assert config["init"] == {"swap_size_mb": 512}
    assert config["metrics"] == {"port": 8080, "path": "/metrics"}
    assert fake_fly.invalid == []  # every request as the spec describes it


async def test_reprovisioning_and_destroying_keep_the_one_volume(
    provisioner: Provisioner, fake_fly: FakeFly
) -> None:
    first = (await provisioner.provision(USER, "fra", 1, 256)).machine
    (volume,) = fake_fly.volumes.values()
    # A new size: the machine is updated (restarted) with the same volume.
    assert (await provisioner.provision(USER, "fra", 1, 512)).action == "updated"
    assert mounted_volume(fake_fly.machines[first.id].config) == volume.id
    destroyed = await provisioner.destroy(USER)
    assert destroyed.volume_id == volume.id
    assert volume.attached_machine_id is None  # detached, kept
    second = (await provisioner.provision(USER, "fra", 1, 256)).machine
    assert second.id != first.id
    assert list(fake_fly.volumes) == [volume.id]  # no second volume
    assert volume.attached_machine_id == second.id
    assert fake_fly.invalid == []


async def test_a_machine_made_before_volumes_gets_one(
    provisioner: Provisioner, fake_fly: FakeFly
) -> None:
    old = fake_fly.add(user_id=USER, state="started", region="fra")
    result = await provisioner.provision(USER, "fra", 1, 256)
    assert (result.machine.id, result.action) == (old.id, "updated")
    (volume,) = fake_fly.volumes.values()
    assert mounted_volume(old.config) == volume.id
    assert volume.region == "fra"


def test_which_volume_is_reused() -> None:
    name = volume_name(USER)

    def vol(vid: str, **kw: str | None) -> Volume:
        fields: dict[str, str | None] = {"name": name, "region": "fra", "state": "created"}
        fields.update(kw)
        return Volume(vid, str(fields.pop("name")), **fields)  # type: ignore[arg-type]

    volumes = [
        vol("other-user", name="vyx_0000"),
        vol("other-region", region="nrt"),
        vol("going", state="pending_destroy"),
        vol("taken", attached_machine_id="m-other"),
        vol("free-newer", created_at="2024-02-01"),
        vol("free-older", created_at="2024-01-01"),
    ]
    assert pick_volume(volumes, name=name, region="fra", machine_id=None) == volumes[5]
    mine = vol("mine", attached_machine_id="m1", created_at="2024-03-01")
    assert pick_volume([*volumes, mine], name=name, region="fra", machine_id="m1") == mine
    assert pick_volume(volumes[:4], name=name, region="fra", machine_id=None) is None


async def _write(data: Path) -> None:
    """What a running daemon keeps in ``/data``: stored signals, spooled rows, its mark."""
    cfg = StoreConfig(data_dir=data)
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(run_store, cfg)
        await store.save_signals([make_signal(i) for i in range(3)])
        nursery.cancel_scope.cancel()  # killed: no graceful stop
    spool = Spool.open(cfg.spool_path)
    spool.append([("signals", "k1", '{"id": "k1"}'), ("cloud_events", "k2", '{"id": "k2"}')])
    spool.close()
    save_marks(data, {"5m": 1_699_999_800_000})


async def _kept(data: Path) -> tuple[int, int, dict[str, int]]:
    """(signals in the store, rows in the spool, the mark) found in ``data`` at a start."""
    cfg = StoreConfig(data_dir=data)
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(run_store, cfg)
        signals = len(await store.recent_signals(STORE_USER, limit=100))
        nursery.cancel_scope.cancel()
    spool = Spool.open(cfg.spool_path)
    queued = spool.counts()[0]
    spool.close()
    return signals, queued, load_marks(data)


async def test_a_kill_and_restart_keep_the_store_the_spool_and_the_mark(
    provisioner: Provisioner, fake_fly: FakeFly, tmp_path: Path
) -> None:
    fake_fly.disk = tmp_path
    machine = (await provisioner.provision(USER, "fra", 1, 256)).machine
    await _write(fake_fly.data_dir(machine.id))
    fake_fly.crash(machine.id)  # killed; Fly restarts it on a fresh root filesystem
    assert await _kept(fake_fly.data_dir(machine.id)) == (3, 2, {"5m": 1_699_999_800_000})
    # Without the volume (a machine as provisioned before), the same restart loses it all.
    bare = fake_fly.add(user_id="99999999-2222-3333-4444-555555555555", state="started")
    await _write(fake_fly.data_dir(bare.id))
    fake_fly.crash(bare.id)
    assert await _kept(fake_fly.data_dir(bare.id)) == (0, 0, {})
