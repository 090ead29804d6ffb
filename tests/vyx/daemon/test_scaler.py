"""The scaling rule (tables and Hypothesis) and the scaler's shell against the fake Fly API."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vyx.fleet.fake_fly import Failure, FakeFly
from vyx.daemon.scaler import (
    RESTARTS_KEY,
    SCALED_AT_KEY,
    LoadStats,
    ScalerConfig,
    ScalerDeps,
    ScalerState,
    ScreenLoad,
    pressure,
    run_scaler,
    scale_decision,
    state_after_restart,
)
from vyx.fleet.fly_api import FlyMachines

CFG = ScalerConfig(
    vcpu_enabled=True, up_samples=2, down_samples=3, worker_cooldown_s=60, cpu_cooldown_s=1800
)
HIGH = LoadStats(screen_share=0.5, queue_depth=0, cpu=0.1)
LOW = LoadStats(screen_share=0.0, queue_depth=0, cpu=0.05)
MID = LoadStats(screen_share=0.05, queue_depth=10, cpu=0.5)


@pytest.mark.parametrize(
    ("stats", "level"),
    [
        (LoadStats(0.10, 0, 0.0), "high"),
        (LoadStats(0.0, 50, 0.0), "high"),
        (LoadStats(0.0, 0, 0.8), "high"),
        (LoadStats(0.02, 5, 0.3), "low"),
        (LoadStats(0.03, 0, 0.0), "steady"),
        (LoadStats(0.0, 6, 0.0), "steady"),
        (LoadStats(0.0, 0, 0.31), "steady"),
        (LoadStats(0.09, 49, 0.79), "steady"),
    ],
)
def test_pressure_thresholds(stats: LoadStats, level: str) -> None:
    assert pressure(stats, CFG) == level


def _run(
    samples: list[LoadStats], state: ScalerState, cfg: ScalerConfig = CFG, step_s: float = 15.0
) -> list[tuple[str, int, int]]:
    out = []
    for i, stats in enumerate(samples):
        d = scale_decision(stats, state, cfg, now=i * step_s)
        state = d.state
        out.append((d.action, state.workers, state.cpus))
    return out


@pytest.mark.parametrize(
    ("name", "samples", "start", "expected"),
    [
        ("one high sample is noise", [HIGH, LOW], (1, 2), [("none", 1, 2), ("none", 1, 2)]),
        ("sustained high adds a worker", [HIGH, HIGH], (1, 2), [("none", 1, 2), ("workers", 2, 2)]),
        (
            "worker cooldown",
            [HIGH, HIGH, HIGH, HIGH],
            (1, 4),
            [("none", 1, 4), ("workers", 2, 4), ("none", 2, 4), ("none", 2, 4)],
        ),
        ("workers full: vCPUs double", [HIGH, HIGH], (2, 2), [("none", 2, 2), ("vcpus", 2, 4)]),
        ("at max_cpus nothing more", [HIGH, HIGH], (8, 8), [("none", 8, 8), ("none", 8, 8)]),
        ("steady changes nothing", [MID] * 5, (2, 4), [("none", 2, 4)] * 5),
        (
            "sustained low drops a worker",
            [LOW] * 3,
            (3, 4),
            [("none", 3, 4), ("none", 3, 4), ("workers", 2, 4)],
        ),
        (
            "one worker: vCPUs halve",
            [LOW] * 3,
            (1, 4),
            [("none", 1, 4), ("none", 1, 4), ("vcpus", 1, 2)],
        ),
        ("at min_cpus nothing less", [LOW] * 3, (1, 1), [("none", 1, 1)] * 3),
        ("a steady sample resets the streak", [HIGH, MID, HIGH], (1, 2), [("none", 1, 2)] * 3),
    ],
)
def test_decision_table(
    name: str,
    samples: list[LoadStats],
    start: tuple[int, int],
    expected: list[tuple[str, int, int]],
) -> None:
    assert _run(samples, ScalerState(workers=start[0], cpus=start[1])) == expected, name


def test_vcpu_changes_are_disabled_and_rate_limited() -> None:
    off = attrs.evolve(CFG, vcpu_enabled=False)
    assert _run([HIGH] * 4, ScalerState(workers=1, cpus=1), off)[-1] == ("none", 1, 1)
    recent = ScalerState(workers=2, cpus=2, last_cpu_change_s=0.0)
    d = scale_decision(HIGH, attrs.evolve(recent, high_streak=5), CFG, now=1799)
    assert (d.action, d.reason) == ("none", "high load: vCPU cooldown")
    d = scale_decision(HIGH, attrs.evolve(recent, high_streak=5), CFG, now=1800)
    assert d.action == "vcpus"
    assert (d.state.cpus, d.state.memory_mb) == (4, 1024)  # 256 MB per shared vCPU at least


def test_bounds_from_config() -> None:
    cfg = attrs.evolve(CFG, min_cpus=2, max_cpus=4)
    assert _run([HIGH] * 2, ScalerState(workers=4, cpus=4), cfg)[-1] == ("none", 4, 4)
    assert _run([LOW] * 3, ScalerState(workers=1, cpus=2), cfg)[-1] == ("none", 1, 2)
    assert _run([HIGH] * 2, ScalerState(workers=3, cpus=3), cfg)[-1] == ("vcpus", 3, 4)


stats_st = st.builds(
    LoadStats,
    screen_share=st.floats(0, 2, allow_nan=False),
    queue_depth=st.integers(0, 200),
    cpu=st.floats(0, 1.5, allow_nan=False),
)
cfg_st = st.builds(
    ScalerConfig,
    min_cpus=st.integers(1, 2),
    max_cpus=st.integers(2, 8),
    up_samples=st.integers(1, 4),
    down_samples=st.integers(1, 6),
    worker_cooldown_s=st.floats(0, 120),
    cpu_cooldown_s=st.floats(1, 3600),
    vcpu_enabled=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    cfg=cfg_st,
    samples=st.lists(stats_st, max_size=60),
    cpus=st.sampled_from([1, 2, 4, 8]),
    step=st.floats(1, 600),
)
def test_invariants_over_any_load_sequence(
    cfg: ScalerConfig, samples: list[LoadStats], cpus: int, step: float
) -> None:
    cpus = min(max(cpus, cfg.min_cpus), cfg.max_cpus)
    state = ScalerState(workers=1, cpus=cpus, memory_mb=256 * cpus)
    vcpu_times: list[float] = []
    for i, stats in enumerate(samples):
        now = i * step
        d = scale_decision(stats, state, cfg, now)
        new = d.state
        level = pressure(stats, cfg)
        assert 1 <= new.workers <= new.cpus
        assert cfg.min_cpus <= new.cpus <= cfg.max_cpus or new.cpus == state.cpus
        assert new.memory_mb >= 256 * new.cpus
        if d.action == "none":
            assert (new.workers, new.cpus) == (state.workers, state.cpus)
        if d.action == "workers":
            assert abs(new.workers - state.workers) == 1
            assert new.cpus == state.cpus
        if d.action == "vcpus":
            assert cfg.vcpu_enabled
            assert new.cpus in (state.cpus * 2, state.cpus // 2) or new.cpus in (
                cfg.min_cpus,
                cfg.max_cpus,
            )
            vcpu_times.append(now)
        if level == "steady":
            assert d.action == "none"
        if level == "high":  # never shrinks under load
            assert new.workers >= state.workers
            assert new.cpus >= state.cpus
        if level == "low":
            assert new.workers <= state.workers
            assert new.cpus <= state.cpus
        if d.action != "none":  # hysteresis: the streak that led here was long enough
            streak = state.high_streak if level == "high" else state.low_streak
            assert streak + 1 >= (cfg.up_samples if level == "high" else cfg.down_samples)
        state = new
    for a, b in itertools.pairwise(vcpu_times):
        assert b - a >= cfg.cpu_cooldown_s


def test_screen_load_and_state_after_restart(fake_fly: FakeFly) -> None:
    load = ScreenLoad()
    load.note(3.0, 300_000)
    load.note(1.0, 60_000)
    assert load.take() == pytest.approx(1 / 60)
    assert load.take() == 0.0
    m = fake_fly.add(user_id="u", state="started")
    machine = attrs.evolve(_machine(m), config={**m.config, "metadata": {SCALED_AT_KEY: "1000"}})
    s = state_after_restart(machine, workers=4, cpus=2, memory_mb=512, now=100.0, wall_ms=61_000)
    assert (s.workers, s.cpus, s.last_cpu_change_s) == (2, 2, 40.0)
    assert (
        state_after_restart(
            None, workers=1, cpus=1, memory_mb=256, now=0, wall_ms=0
        ).last_cpu_change_s
        is None
    )


def _machine(m: Any) -> Any:
    from vyx.fleet.fly_api import Machine

    return Machine.from_api(m.body())


@attrs.define
class Daemon:
    """What the daemon hands the scaler, recording every call in order."""

    load: LoadStats = HIGH
    calls: list[str] = attrs.field(factory=list)
    events: list[dict[str, Any]] = attrs.field(factory=list)
    messages: list[Mapping[str, Any]] = attrs.field(factory=list)

    def deps(self, fly: FlyMachines | None, machine_id: str | None) -> ScalerDeps:
        async def save_event(row: Mapping[str, Any]) -> None:
            self.events.append(dict(row))

        async def broadcast(message: Mapping[str, Any]) -> None:
            self.messages.append(message)

        async def prepare_restart() -> None:
            self.calls.append("flush")

        return ScalerDeps(
            sample=lambda: self.load,
            set_workers=lambda n: self.calls.append(f"workers={n}"),
            save_event=save_event,
            broadcast=broadcast,
            prepare_restart=prepare_restart,
            user_id="u",
            row_id="row",
            fly=fly,
            fly_machine_id=machine_id,
            wall_ms=lambda: 5_000,
        )


async def test_the_shell_scales_workers_then_vcpus_through_the_api(
    fly: FlyMachines, fake_fly: FakeFly, autojump_clock: trio.abc.Clock
) -> None:
    m = fake_fly.add(
        user_id="u",
        state="started",
        cpus=2,
        memory_mb=512,
        env={"USER_ID": "u", "MACHINE_CPUS": "2"},
    )
    daemon = Daemon()
    cfg = attrs.evolve(CFG, interval_s=15)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            run_scaler, cfg, ScalerState(workers=1, cpus=2, memory_mb=512), daemon.deps(fly, m.id)
        )
        await trio.sleep(15 * 4 + 1)
        nursery.cancel_scope.cancel()
    assert daemon.calls == ["workers=2", "flush"]
    assert m.config["guest"] == {"cpu_kind": "shared", "cpus": 4, "memory_mb": 1024}
    assert m.config["env"] == {"USER_ID": "u", "MACHINE_CPUS": "4", "MACHINE_MEMORY": "1024"}
    assert m.config["metadata"][SCALED_AT_KEY] == "5000"
    assert m.config["metadata"][RESTARTS_KEY] == "1"
    assert m.state in ("replacing", "starting", "started")  # update = restart
    assert fake_fly.invalid == []
    assert [e["event_type"] for e in daemon.events] == ["machine_scaled", "machine_scaled"]
    assert [e["details"]["kind"] for e in daemon.events] == ["workers", "vcpus"]
    assert daemon.events[1]["details"]["restart"] is True
    assert [msg["type"] for msg in daemon.messages] == ["machine_scaled"] * 2
    assert daemon.messages[1]["data"]["cpus"] == 4


async def test_without_a_fly_token_only_workers_change(autojump_clock: trio.abc.Clock) -> None:
    daemon = Daemon()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            run_scaler, CFG, ScalerState(workers=1, cpus=2), daemon.deps(None, None)
        )
        await trio.sleep(15 * 10)
        nursery.cancel_scope.cancel()
    assert daemon.calls == ["workers=2"]


async def test_a_failed_vcpu_change_is_reported(
    fly: FlyMachines, fake_fly: FakeFly, autojump_clock: trio.abc.Clock
) -> None:
    m = fake_fly.add(user_id="u", state="started", cpus=1, memory_mb=256)
    fake_fly.fail += [Failure("POST", f"/machines/{m.id}$", 503) for _ in range(4)]
    daemon = Daemon()
    async with trio.open_nursery() as nursery:
        await nursery.start(run_scaler, CFG, ScalerState(workers=1, cpus=1), daemon.deps(fly, m.id))
        await trio.sleep(15 * 8)
        nursery.cancel_scope.cancel()
    assert m.config["guest"]["cpus"] == 1
    assert daemon.calls == ["flush"]  # no worker beyond the vCPUs the machine still has
    assert [e["event_type"] for e in daemon.events] == ["machine_scaled", "machine_error"]
    assert "vCPU change to 2 failed" in daemon.events[1]["message"]
