"""``vyx provision`` / ``vyx machines`` and the Supabase registry, end to end against the fake
Machines API and the PostgREST fake (its tables carry the real constraints)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.vyx.store.supabase.fake_postgrest import SERVICE_KEY, FakePostgrest, transport
from vyx.cli import cli
from vyx.cli import provision as provision_cli
from vyx.config import Config
from vyx.fleet.machine_config import machine_row_id
from vyx.fleet.provision import Provisioner
from vyx.settings import MachineConfig, SupabaseConfig
from vyx.store.supabase.wire import iso_from_ms

from .conftest import TOKEN
from .fake_fly import FakeFly
from .fake_registry import FakeRegistry

USER = "11111111-2222-3333-4444-555555555555"
#: vyx.config rejects a token with a space (``FlyV1 fm2_...``): the bare macaroon here.
BARE_TOKEN = TOKEN.split()[-1]
ENV = {
    "FLY_API_TOKEN": BARE_TOKEN,
    "FLY_APP_NAME": "vyx-test",
    "FLY_API_URL": FakeFly.BASE,
    "SUPABASE_URL": "http://supabase.test",
    "SUPABASE_SERVICE_KEY": SERVICE_KEY,
}


@pytest.fixture
def db() -> FakePostgrest:
    fake = FakePostgrest()
    fake.db.insert(
        "user_subscriptions",
        [{"user_id": USER, "tier": "elite", "status": "active"}],
        on_conflict=None,
        resolution=None,
        columns=None,
    )
    return fake


@pytest.fixture
def fake_fly(shared_data: Path) -> FakeFly:
    return FakeFly.from_shared(shared_data, token=BARE_TOKEN)


@pytest.fixture
def registry() -> FakeRegistry:
    fake = FakeRegistry(BARE_TOKEN)
    fake.push("vyx-test")
    return fake


@pytest.fixture
def wired(
    monkeypatch: pytest.MonkeyPatch, fake_fly: FakeFly, db: FakePostgrest, registry: FakeRegistry
) -> None:
    """The CLI's provisioner talks to the fakes."""
    real = provision_cli.open_provisioner

    @asynccontextmanager
    async def fake_open(cfg: Config, **kw: Any) -> AsyncIterator[Provisioner]:
        async with real(
            cfg,
            fly_transport=fake_fly.transport,
            supabase_transport=transport(db),
            registry_transport=registry.transport,
            **kw,
        ) as provisioner:
            yield provisioner

    monkeypatch.setattr(provision_cli, "open_provisioner", fake_open)


def _vyx(*args: str, env: dict[str, str] = ENV) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


@pytest.mark.usefixtures("wired")
def test_provision_stop_start_status_destroy_from_the_command_line(
    fake_fly: FakeFly, db: FakePostgrest, registry: FakeRegistry
) -> None:
    code, out = _vyx("provision", USER, "--region", "fra", "--cpus", "2", "--memory", "512")
    assert code == 0, out
    (machine,) = fake_fly.machines.values()
    assert f"created: machine {machine.id}" in out
    (row,) = db.rows("cloud_machines")
    assert row["id"] == machine_row_id(USER)
    assert row["machine_id"] == machine.id
    assert row["status"] == "running"
    assert (row["region"], row["cpus"], row["memory_mb"]) == ("fra", 2, 512)
    assert row["websocket_url"] == f"wss://vyx-test.fly.dev/ws?instance={machine.id}"
    # The tag just deploy pushed, pinned by what it is now.
    assert (
        machine.config["image"] == f"registry.fly.io/vyx-test@{registry.tags['vyx-test', 'latest']}"
    )
    assert machine.config["stop_config"]["timeout"] == "20s"  # drain 10 s + 10 s

    code, out = _vyx("machines", "stop", USER)
    assert (code, machine.state) == (0, "stopped"), out
    assert db.rows("cloud_machines")[0]["status"] == "stopped"
    code, out = _vyx("machines", "start", USER)
    assert (code, machine.state) == (0, "started"), out
    code, out = _vyx("machines", "status", USER)
    assert code == 0
    assert "status:        running" in out
    assert "fly state:     started" in out
    code, out = _vyx("machines", "destroy", USER, "--yes")
    assert code == 0, out
    assert machine.state == "destroyed"
    (volume,) = fake_fly.volumes.values()
    assert f"kept: volume {volume.id}" in out
    assert "the next `vyx provision` in fra reuses it" in out
    assert db.rows("cloud_machines") == []
    events = [e["event_type"] for e in db.rows("cloud_events")]
    assert events == [
        "machine_provisioned",
        "machine_stopped",
        "machine_started",
        "machine_stopped",
    ]
    assert fake_fly.invalid == []


@pytest.mark.usefixtures("wired")
def test_every_spelling_of_a_user_id_is_one_user(fake_fly: FakeFly, db: FakePostgrest) -> None:
    """Finding 8: each spelling made its own machine name and row id."""
    spellings = [USER.upper(), "{" + USER + "}", USER.replace("-", ""), "urn:uuid:" + USER, USER]
    for spelling in spellings:
        code, out = _vyx("provision", spelling)
        assert code == 0, out
        code, out = _vyx("machines", "status", spelling)
        assert code == 0, out
        assert f"user:          {USER}" in out
    (machine,) = fake_fly.machines.values()
    assert machine.name == f"vyx-{USER}"
    assert machine.region == "nrt"  # the default: Binance serves it, next to its servers
    assert machine.config["env"]["USER_ID"] == USER
    (row,) = db.rows("cloud_machines")
    assert (row["id"], row["user_id"]) == (machine_row_id(USER), USER)
    code, out = _vyx("machines", "destroy", USER.upper(), "--yes")
    assert code == 0, out
    assert db.rows("cloud_machines") == []


@pytest.mark.usefixtures("wired")
def test_refusals_exit_1_with_the_reason(fake_fly: FakeFly, db: FakePostgrest) -> None:
    other = "99999999-2222-3333-4444-555555555555"
    code, out = _vyx("provision", other)
    assert code == 1
    assert "has no subscription; a machine needs an active elite one" in out
    code, out = _vyx("machines", "stop", other)
    assert code == 1
    assert "has no machine" in out
    code, out = _vyx("provision", USER, "--cpus", "2", "--memory", "256")
    assert code == 2
    assert "memory must be a multiple of 256 MB in 512..4096" in out
    code, out = _vyx("provision", USER, "--region", "iad")
    assert code == 2
    assert "Binance refuses the United States (HTTP 451)" in out
    assert "use nrt (Tokyo, nearest to Binance)" in out
    code, out = _vyx("provision", USER, "--region", "xyz")
    assert code == 2
    assert "'xyz' is not a Fly region" in out
    assert fake_fly.machines == {}
    assert fake_fly.requests == []  # refused before asking Fly anything
    assert all(TOKEN.split()[-1] not in line for line in out.splitlines())


@pytest.mark.usefixtures("wired")
def test_a_new_push_of_the_tag_updates_the_machine(
    fake_fly: FakeFly, registry: FakeRegistry
) -> None:
    code, out = _vyx("provision", USER)
    assert code == 0, out
    (machine,) = fake_fly.machines.values()
    first = machine.config["image"]
    code, out = _vyx("provision", USER)
    assert (code, f"running: machine {machine.id}" in out) == (0, True), out  # nothing new
    digest = registry.push("vyx-test")  # just deploy again
    code, out = _vyx("provision", USER)
    assert f"updated: machine {machine.id}" in out, out
    assert machine.config["image"] == f"registry.fly.io/vyx-test@{digest}" != first
    # A tag the registry does not know: said, and the tag is used as it is.
    code, out = _vyx("provision", USER, "--image", "registry.fly.io/vyx-test:nope")
    assert code == 0, out
    assert "warning: registry.fly.io/vyx-test:nope: the registry answered HTTP 404" in out
    assert machine.config["image"] == "registry.fly.io/vyx-test:nope"
    assert all(BARE_TOKEN not in line for line in out.splitlines())


def test_configuration_errors_exit_2() -> None:
    code, out = _vyx("machines", "status", USER, env={**ENV, "SUPABASE_URL": ""})
    assert code == 2
    assert "SUPABASE_URL" in out
    code, out = _vyx("machines", "status", "not-a-uuid", env=ENV)
    assert code == 2
    assert "USER_ID='not-a-uuid': expected a UUID" in out


async def test_the_daemon_lifecycle_keeps_the_provisioned_row(
    fake_fly: FakeFly, db: FakePostgrest, tmp_path: Path
) -> None:
    """The daemon updates its row by ``user_id`` with its ``MACHINE_ID``: provisioning gives it
    the Fly id, so the row keeps its id and the Fly machine id."""
    import trio

    from vyx.cloud.machine import LifecycleConfig, open_machine_lifecycle
    from vyx.settings import StoreConfig
    from vyx.store.supabase import run_supabase_store

    cfg = Config.from_env({**ENV, "USER_ID": USER})
    async with provision_cli.open_provisioner(
        cfg, fly_transport=fake_fly.transport, supabase_transport=transport(db)
    ) as provisioner:
        result = await provisioner.provision(USER, "fra", 1, 256)
    env = result.machine.config["env"]
    machine_cfg = MachineConfig(
        user_id=env["USER_ID"],
        machine_id=env["MACHINE_ID"],
        region=env["MACHINE_REGION"],
        cpus=1,
        memory_mb=256,
    )
    sb = SupabaseConfig(url="http://supabase.test", service_key=SERVICE_KEY)
    store_cfg = StoreConfig(data_dir=tmp_path, flush_interval_ms=5)
    async with trio.open_nursery() as nursery:
        store = await nursery.start(
            partial(run_supabase_store, store_cfg, sb, user_id=USER, transport=transport(db))
        )
        async with open_machine_lifecycle(LifecycleConfig(machine_cfg), store) as me:
            assert me.id == machine_row_id(USER)
        assert await store.sync(10)
        nursery.cancel_scope.cancel()
    (row,) = db.rows("cloud_machines")
    assert row["id"] == machine_row_id(USER)
    assert row["machine_id"] == result.machine.id
    assert row["status"] == "stopped"
    provisioned = datetime.fromisoformat(row["provisioned_at"])
    assert provisioned == datetime.fromisoformat(iso_from_ms(result.record.provisioned_at or 0))
