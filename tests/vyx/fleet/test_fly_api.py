"""The Machines API client against the fake API (every request checked against the spec)."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import httpx
import pytest
import trio

from vyx.fleet.fly_api import (
    FlyAuthError,
    FlyConflict,
    FlyError,
    FlyMachines,
    FlyNotFound,
    FlyRequestError,
    FlyUnavailable,
    FlyWaitTimeout,
    Guest,
    go_duration,
)
from vyx.fleet.machine_config import ProvisionSettings, guest_for, machine_config
from vyx.retry import Backoff, RetryPolicy, parse_retry_after
from vyx.settings import FlyConfig

from .conftest import TOKEN
from .fake_fly import SPEC_FILE, Failure, FakeFly, SwaggerValidator

SETTINGS = ProvisionSettings(
    app="vyx-test", image="registry.fly.io/vyx-test:latest", supabase_url="https://db.example.test"
)
USER = "11111111-2222-3333-4444-555555555555"


def _request() -> dict[str, object]:
    config = machine_config(
        SETTINGS, user_id=USER, machine_id=None, region="ams", guest=guest_for(1, 256)
    )
    return {"name": f"vyx-{USER}", "region": "ams", "config": config}


# -- the validator itself ------------------------------------------------------------------------


def test_validator_accepts_the_official_examples_and_rejects_typos(shared_data: Path) -> None:
    spec = json.loads((shared_data / SPEC_FILE).read_text())
    v = SwaggerValidator(spec)
    create = {"$ref": "#/definitions/CreateMachineRequest"}
    official = {
        "config": {
            "init": {"exec": ["/bin/sleep", "inf"]},
            "image": "registry-1.docker.io/library/ubuntu:latest",
            "auto_destroy": True,
            "restart": {"policy": "always"},
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        }
    }
    assert v.errors(official, create) == []
    assert v.errors(_request(), create) == []
    bad = json.loads(json.dumps(official))
    bad["config"]["guest"]["memory"] = 256
    bad["config"]["guest"]["cpus"] = "1"
    bad["config"]["restart"]["policy"] = "sometimes"
    problems = v.errors(bad, create)
    assert any("unknown property 'memory'" in p for p in problems)
    assert any("$.config.guest.cpus: expected integer" in p for p in problems)
    assert any("'sometimes' is not one of" in p for p in problems)
    check = {"$ref": "#/definitions/fly.MachineCheck"}
    assert v.errors({"interval": "15s", "timeout": "1m30s"}, check) == []
    assert v.errors({"interval": 15}, check) != []


# -- calls -----------------------------------------------------------------------------------------


async def test_machine_lifecycle_through_every_call(fly: FlyMachines, fake_fly: FakeFly) -> None:
    created = await fly.create(_request())
    assert created.state == "created"
    assert created.metadata == {"vyx_user_id": USER}
    await fly.wait(created.id, "started", instance_id=created.instance_id, timeout_s=30)
    assert (await fly.get(created.id)).state == "started"
    assert [m.id for m in await fly.list()] == [created.id]
    assert [m.id for m in await fly.list(region="ams")] == [created.id]

    updated = await fly.update_guest(created.id, Guest(2, 512))
    assert updated.instance_id != created.instance_id
    assert updated.guest == Guest(2, 512)
    assert updated.config["env"] == created.config["env"]  # the rest of the config is kept
    await fly.wait(created.id, "started", instance_id=updated.instance_id)

    await fly.stop(created.id, timeout_s=20)
    await fly.wait(created.id, "stopped", instance_id=updated.instance_id)
    await fly.start(created.id)
    await fly.wait(created.id, "started")
    await fly.delete(created.id, force=True)
    with pytest.raises(FlyNotFound):
        await fly.get(created.id)
    assert fake_fly.invalid == []
    stop_body = next(b for m, p, b in fake_fly.requests if p.endswith("/stop"))
    assert stop_body == {"signal": "SIGTERM", "timeout": "20s"}
    update_body = next(b for m, p, b in fake_fly.requests if m == "POST" and p.endswith(created.id))
    assert update_body["current_version"] == created.instance_id


async def test_an_invalid_body_is_refused_by_the_fake(fly: FlyMachines, fake_fly: FakeFly) -> None:
    with pytest.raises(FlyRequestError) as info:
        await fly.create({"name": "x", "config": {"guest": {"cpus": 1, "memory": 256}}})
    assert info.value.status == 400
    assert "unknown property 'memory'" in str(info.value)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, FlyAuthError),
        (403, FlyAuthError),
        (404, FlyNotFound),
        (409, FlyConflict),
        (412, FlyConflict),
        (400, FlyRequestError),
        (422, FlyRequestError),
    ],
)
async def test_refusals_map_to_the_exception_tree(
    fly: FlyMachines, fake_fly: FakeFly, status: int, kind: type[FlyRequestError]
) -> None:
    fake_fly.fail.append(Failure("GET", "/machines$", status, {"error": "nope"}))
    with pytest.raises(kind) as info:
        await fly.list()
    assert info.value.status == status
    assert info.value.message == "nope"
    assert f"GET /apps/vyx-test/machines: HTTP {status}: nope" == str(info.value)
    assert len(fake_fly.requests) == 1  # refusals are not retried


async def test_5xx_and_429_are_retried_honouring_retry_after(
    fly: FlyMachines, fake_fly: FakeFly, autojump_clock: trio.abc.Clock
) -> None:
    fake_fly.fail += [
        Failure("GET", "/machines$", 503),
        Failure("GET", "/machines$", 429, headers={"Retry-After": "7"}),
    ]
    start = trio.current_time()
    assert await fly.list() == []
    assert len(fake_fly.requests) == 3
    assert trio.current_time() - start == pytest.approx(0.1 + 7)  # backoff, then Retry-After


async def test_retries_give_up_with_fly_unavailable(
    fly: FlyMachines, fake_fly: FakeFly, autojump_clock: trio.abc.Clock
) -> None:
    fake_fly.fail += [Failure("GET", "/machines$", 502) for _ in range(4)]
    with pytest.raises(FlyUnavailable, match=r"HTTP 502: injected after 4 attempt"):
        await fly.list()
    assert len(fake_fly.requests) == 4


async def test_create_is_not_retried_on_5xx_but_is_on_429(
    fly: FlyMachines, fake_fly: FakeFly, autojump_clock: trio.abc.Clock
) -> None:
    fake_fly.fail.append(Failure("POST", "/machines$", 500))
    with pytest.raises(FlyRequestError) as info:
        await fly.create(_request())
    assert info.value.status == 500
    assert fake_fly.machines == {}
    fake_fly.fail.append(Failure("POST", "/machines$", 429, headers={"Retry-After": "1"}))
    assert (await fly.create(_request())).state == "created"
    assert len(fake_fly.machines) == 1


async def test_network_errors(autojump_clock: trio.abc.Clock) -> None:
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        if request.method == "POST":
            raise httpx.ReadTimeout("slow", request=request)
        raise httpx.ConnectError("refused", request=request)

    async with FlyMachines(
        TOKEN, "app", transport=httpx.MockTransport(handler), policy=RetryPolicy(max_attempts=3)
    ) as fly:
        with pytest.raises(FlyUnavailable, match="ConnectError after 3 attempt"):
            await fly.get("m1")
        with pytest.raises(FlyUnavailable, match="ReadTimeout after 1 attempt"):
            await fly.create(_request())  # the create may have happened: not retried
    assert attempts == ["GET"] * 3 + ["POST"]


async def test_wait_times_out(
    fly: FlyMachines, fake_fly: FakeFly, autojump_clock: trio.abc.Clock
) -> None:
    machine = await fly.create(_request())
    fake_fly.stuck.add(machine.id)
    with pytest.raises(FlyWaitTimeout, match="did not reach 'started' in 5 s"):
        await fly.wait(machine.id, "started", timeout_s=5)
    waits = [c for c in fake_fly.calls("GET") if c.endswith("/wait")]
    assert waits  # a 408 answer is asked again until the deadline


def test_retry_policy_and_helpers() -> None:
    p = RetryPolicy(Backoff(initial=1, maximum=3, jitter=0), max_attempts=3, min_delay_s=0)
    assert [p.delay(), p.failed().delay(), p.failed().failed().delay()] == [1, 2, 3]
    assert p.delay(120) == 60
    assert p.delay(-5) == 0
    assert not p.failed().exhausted
    assert p.failed().failed().exhausted
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert [go_duration(s) for s in (5, 20.2, 90)] == ["5s", "21s", "1m30s"]


# -- secrets ---------------------------------------------------------------------------------------


async def test_the_token_is_never_in_reprs_logs_or_exceptions(
    fake_fly: FakeFly, log_lines: list[str], autojump_clock: trio.abc.Clock
) -> None:
    # An API that echoes the Authorization header back in its error body.
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": f"bad {request.headers['Authorization']}"})

    errors: list[BaseException] = []
    async with FlyMachines(TOKEN, "app", transport=httpx.MockTransport(echo)) as fly:
        for call in (fly.list(), fly.get("m1"), fly.create(_request())):
            try:
                await call
            except FlyError as exc:
                errors.append(exc)
        texts = [repr(fly), str(vars(fly).get("app"))]
    with pytest.raises(FlyAuthError) as info:
        FlyMachines.from_config(FlyConfig(api_token=None, app_name="app"))
    errors.append(info.value)
    texts += [str(FlyConfig(api_token=TOKEN)), repr(FlyConfig(api_token=TOKEN))]
    texts += ["".join(traceback.format_exception(e)) for e in errors]
    texts += log_lines
    assert len(errors) == 4
    assert any("<hidden>" in str(e) for e in errors)
    assert log_lines  # the retries were logged
    secret = TOKEN.split()[-1]
    assert all(secret not in t for t in texts)
