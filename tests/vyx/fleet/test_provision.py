"""Provisioning against the fake Machines API and an in-memory registry."""

from __future__ import annotations

import traceback

import pytest
import trio

from vyx.fleet.fly_api import FlyConflict, FlyError, FlyMachines, FlyWaitTimeout
from vyx.fleet.machine_config import ProvisionSettings, guest_for, machine_row_id
from vyx.fleet.provision import (
    NoMachine,
    NotEntitled,
    Provisioner,
    RegistryError,
    provision_machine,
)
from vyx.fleet.regions import RegionRefused

from .conftest import TOKEN, MemoryRegistry
from .fake_fly import Failure, FakeFly

USER = "11111111-2222-3333-4444-555555555555"
IMAGE = "registry.fly.io/vyx-test:latest"
KEY = "sb_secret_narrow-per-user-key-42"
SETTINGS = ProvisionSettings(
    app="vyx-test",
    image=IMAGE,
    supabase_url="https://db.example.test",
    env={"KLINE_INTERVAL": "5m"},
    secret_env={"SUPABASE_SERVICE_KEY": KEY},
    start_timeout_s=30,
    stop_timeout_s=30,
)


@pytest.fixture
def provisioner(fly: FlyMachines, registry: MemoryRegistry) -> Provisioner:
    registry.subscribe(USER)
    return Provisioner(fly, registry, SETTINGS, now_ms=lambda: 1_700_000_000_000)


async def test_a_new_machine_is_created_recorded_and_started(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    result = await provisioner.provision(USER, "ams", 2, 512)
    assert result.action == "created"
    (machine,) = fake_fly.machines.values()
    assert machine.state == "started"
    assert machine.name == f"vyx-{USER}"
    assert machine.region == "ams"
    config = machine.config
    assert config["image"] == IMAGE
    assert config["guest"] == {"cpu_kind": "shared", "cpus": 2, "memory_mb": 512}
    assert config["env"] | {"SUPABASE_SERVICE_KEY": "x"} == {
        "KLINE_INTERVAL": "5m",
        "USER_ID": USER,
        "MACHINE_ID": machine.id,
        "MACHINE_REGION": "ams",
        "MACHINE_CPUS": "2",
        "MACHINE_MEMORY": "512",
        "FLY_APP_NAME": "vyx-test",
        "SUPABASE_URL": "https://db.example.test",
        "SUPABASE_SERVICE_KEY": "x",
    }
    (service,) = config["services"]
    assert service["internal_port"] == 8080
    assert [(p["port"], p["handlers"]) for p in service["ports"]] == [
        (443, ["tls", "http"]),
        (80, ["http"]),
    ]
    assert config["restart"] == {"policy": "on-failure", "max_retries": 10}
    assert config["checks"]["health"]["path"] == "/health"
    assert fake_fly.invalid == []

    record = registry.rows[USER]
    assert record.machine_id == machine.id  # the Fly id, not the name
    assert record.status == "running"
    assert [r.status for r in registry.history] == ["starting", "running"]
    assert record.websocket_url == f"wss://vyx-test.fly.dev/ws?instance={machine.id}"
    assert (record.region, record.cpus, record.memory_mb) == ("ams", 2, 512)
    assert record.fly_app_name == "vyx-test"
    assert record.fly_machine_version == machine.instance_id
    assert record.started_at == record.provisioned_at == 1_700_000_000_000
    assert registry.event_types() == ["machine_provisioned"]
    assert registry.events[0]["machine_id"] == record.id
    assert record.id == machine_row_id(USER)
    # Its volume found or made, created without launching, given its own id, started.
    volumes = "GET /v1/apps/vyx-test/volumes", "POST /v1/apps/vyx-test/volumes"
    assert fake_fly.calls() == [
        "GET /",
        *volumes,
        "POST /",
        f"POST /{machine.id}",
        f"POST /{machine.id}/start",
        f"GET /{machine.id}/wait",
    ]
    assert fake_fly.requests[3][2]["skip_launch"] is True
    assert "MACHINE_ID" not in fake_fly.requests[3][2]["config"]["env"]


async def test_the_stopped_machine_is_reused_not_duplicated(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    await provisioner.provision(USER, "ams", 1, 256)
    await provisioner.stop(USER)
    (machine,) = fake_fly.machines.values()
    assert machine.state == "stopped"
    assert registry.rows[USER].status == "stopped"
    fake_fly.requests.clear()

    result = await provisioner.provision(USER, "ams", 1, 256)
    assert result.action == "started"
    assert len(fake_fly.machines) == 1
    assert machine.state == "started"
    assert fake_fly.calls() == [
        f"GET /{machine.id}",
        f"POST /{machine.id}/start",
        f"GET /{machine.id}/wait",
    ]
    assert registry.event_types() == ["machine_provisioned", "machine_stopped", "machine_started"]
    # Once more while it runs: nothing to do.
    fake_fly.requests.clear()
    assert (await provisioner.provision(USER, "ams", 1, 256)).action == "running"
    assert fake_fly.calls() == [f"GET /{machine.id}"]


async def test_a_new_size_or_image_updates_the_machine(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    await provisioner.provision(USER, "ams", 1, 256)
    (machine,) = fake_fly.machines.values()
    before = machine.instance_id
    result = await provisioner.provision(USER, "syd", 4, 1024)  # region is kept
    assert result.action == "updated"
    assert machine.instance_id != before
    assert machine.config["guest"]["cpus"] == 4
    assert machine.state == "started"
    assert registry.rows[USER].cpus == 4
    assert registry.rows[USER].region == "ams"
    assert machine.config["env"]["MACHINE_CPUS"] == "4"


async def test_a_machine_created_without_a_row_is_adopted(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    orphan = fake_fly.add(user_id=USER, state="stopped", env={"USER_ID": USER})
    fake_fly.add(user_id="someone-else", state="started")
    result = await provisioner.provision(USER, "ams", 1, 256)
    assert result.machine.id == orphan.id
    assert result.action == "updated"  # the old image and env are replaced
    assert len(fake_fly.machines) == 2
    assert registry.rows[USER].machine_id == orphan.id


async def test_a_destroyed_machine_is_replaced(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    first = (await provisioner.provision(USER, "ams", 1, 256)).machine
    fake_fly.machines[first.id].state = "destroyed"  # destroyed behind our back
    second = await provisioner.provision(USER, "ams", 1, 256)
    assert second.action == "created"
    assert second.machine.id != first.id
    assert registry.rows[USER].machine_id == second.machine.id


@pytest.mark.parametrize(
    ("tier", "status"), [("pro", "active"), ("elite", "cancelled"), ("elite", "past_due"), ("", "")]
)
async def test_only_an_active_elite_subscription_is_served(
    fly: FlyMachines, fake_fly: FakeFly, registry: MemoryRegistry, tier: str, status: str
) -> None:
    if tier:
        registry.subscribe(USER, tier, status)
    with pytest.raises(NotEntitled, match="needs an active elite"):
        await provision_machine(USER, "ams", 1, 256, fly=fly, registry=registry, settings=SETTINGS)
    assert fake_fly.requests == []
    assert registry.rows == {}


@pytest.mark.parametrize(("cpus", "memory"), [(0, 256), (9, 4096), (1, 300), (2, 256), (1, 4096)])
async def test_sizes_are_checked_before_anything_happens(
    provisioner: Provisioner, fake_fly: FakeFly, cpus: int, memory: int
) -> None:
    with pytest.raises(ValueError, match=r"cpus|memory"):
        await provisioner.provision(USER, "ams", cpus, memory)
    assert fake_fly.requests == []
    assert guest_for(8, 16384).cpus == 8


async def test_create_failure_is_recorded_as_an_event(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    fake_fly.fail.append(Failure("POST", "/machines$", 422, {"error": "no capacity in ams"}))
    with pytest.raises(FlyError, match="no capacity"):
        await provisioner.provision(USER, "ams", 1, 256)
    assert registry.rows == {}
    (event,) = registry.events
    assert event["event_type"] == "machine_error"
    assert event["severity"] == "error"
    assert "no capacity in ams" in event["message"]


async def test_a_machine_that_never_starts_is_marked_error(
    provisioner: Provisioner,
    fake_fly: FakeFly,
    registry: MemoryRegistry,
    autojump_clock: trio.abc.Clock,
) -> None:
    await provisioner.provision(USER, "ams", 1, 256)
    await provisioner.stop(USER)
    (machine,) = fake_fly.machines.values()
    fake_fly.stuck.add(machine.id)
    with pytest.raises(FlyWaitTimeout):
        await provisioner.start(USER)
    record = registry.rows[USER]
    assert record.status == "error"
    assert record.error_count == 1
    assert record.error_message is not None
    assert "did not reach 'started'" in record.error_message
    assert registry.event_types()[-1] == "machine_error"


async def test_stop_start_destroy_status(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    with pytest.raises(NoMachine):
        await provisioner.stop(USER)
    with pytest.raises(NoMachine):
        await provisioner.status(USER)
    await provisioner.provision(USER, "ams", 2, 1024)
    (machine,) = fake_fly.machines.values()
    report = await provisioner.status(USER)
    assert report.machine is not None
    assert report.machine.state == "started"
    stopped = await provisioner.stop(USER)
    assert stopped.status == "stopped"
    assert stopped.stopped_at is not None
    assert [r.status for r in registry.history][-2:] == ["stopping", "stopped"]
    assert (await provisioner.stop(USER)).status == "stopped"  # idempotent
    started = await provisioner.start(USER)
    assert started.action == "started"
    assert machine.config["guest"]["cpus"] == 2  # the recorded size
    await provisioner.destroy(USER)
    assert machine.state == "destroyed"
    assert registry.rows == {}
    assert registry.event_types()[-1] == "machine_stopped"
    with pytest.raises(NoMachine):
        await provisioner.destroy(USER)
    assert fake_fly.invalid == []


async def test_destroy_tolerates_a_machine_fly_already_forgot(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    await provisioner.provision(USER, "ams", 1, 256)
    fake_fly.machines.clear()
    await provisioner.destroy(USER)
    assert registry.rows == {}
    assert (await provisioner.provision(USER, "ams", 1, 256)).action == "created"


async def test_a_conflicting_stop_is_recorded(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    await provisioner.provision(USER, "ams", 1, 256)
    fake_fly.fail.append(Failure("POST", "/stop$", 412, {"error": "lease held"}))
    with pytest.raises(FlyConflict):
        await provisioner.stop(USER)
    assert registry.rows[USER].status == "error"
    assert registry.rows[USER].error_message == (
        f"stop failed: POST /apps/vyx-test/machines/{registry.rows[USER].machine_id}/stop: "
        "HTTP 412: lease held"
    )


async def test_registry_errors_surface(provisioner: Provisioner, registry: MemoryRegistry) -> None:
    registry.down = True
    with pytest.raises(RegistryError):
        await provisioner.provision(USER, "ams", 1, 256)


async def test_secrets_stay_out_of_logs_reprs_and_errors(
    provisioner: Provisioner,
    fake_fly: FakeFly,
    registry: MemoryRegistry,
    log_lines: list[str],
) -> None:
    await provisioner.provision(USER, "ams", 1, 256)
    fake_fly.fail += [Failure("POST", "/stop$", 500) for _ in range(4)]
    with pytest.raises(FlyError) as info:
        await provisioner.stop(USER)
    texts = [
        *log_lines,
        repr(SETTINGS),
        repr(provisioner.fly),
        str(registry.events),
        str(registry.history),
        "".join(traceback.format_exception(info.value)),
    ]
    assert any("stop failed" in t for t in texts)
    for secret in (TOKEN.split()[-1], KEY):
        assert all(secret not in t for t in texts)


async def test_a_region_binance_refuses_is_refused_before_any_request(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    for region in ("iad", "yyz", "nowhere"):
        with pytest.raises(RegionRefused, match="nrt"):
            await provisioner.provision(USER, region, 1, 256)
    assert fake_fly.requests == []
    assert registry.rows == {}
    result = await provisioner.provision(USER, "NRT", 1, 256)
    assert result.machine.region == result.record.region == "nrt"
    assert result.machine.config["env"]["MACHINE_REGION"] == "nrt"


async def test_an_existing_machine_where_binance_refuses_is_not_reused(
    provisioner: Provisioner, fake_fly: FakeFly, registry: MemoryRegistry
) -> None:
    """A machine made with the old default (iad) would never see a candle: provision and start
    say to destroy it and where to provision again, and leave it as it is."""
    machine = fake_fly.add(user_id=USER, state="stopped", region="iad")
    with pytest.raises(RegionRefused, match=rf"{machine.id} .* is in iad \(Ashburn, US\)") as info:
        await provisioner.provision(USER, "nrt", 1, 256)
    assert f"vyx machines destroy {USER}" in str(info.value)
    assert machine.state == "stopped"
    assert fake_fly.calls("POST") == []
