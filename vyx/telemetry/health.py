"""Health of the daemon: each service reports its component state; ``/health`` evaluates them.

The registry is plain synchronous state (services call :meth:`HealthRegistry.report` from any
task); :func:`evaluate` is the pure decision that turns the reports and "now" into the overall
status. Rules:

- a *critical* component that is ``down`` makes the daemon ``unhealthy`` (HTTP 503);
- any other ``down``, any ``degraded`` or ``starting`` component, or a report older than its
  ``stale_after_s`` makes it ``degraded`` (HTTP 200: running, but look at it);
- ``ok`` and ``disabled`` (e.g. the analyzer without an API key) are healthy.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

#: The components the daemon reports, in display order.
COMPONENTS: tuple[str, ...] = ("market", "screener", "store", "analyzer", "server")

#: Components whose failure means the daemon does not do its job.
CRITICAL: frozenset[str] = frozenset({"market", "screener", "store", "server"})


class ComponentState(enum.StrEnum):
    """What a component says about itself."""

    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    DISABLED = "disabled"


class Status(enum.StrEnum):
    """The daemon's overall status."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def http_status(self) -> int:
        """200 for healthy and degraded, 503 for unhealthy."""
        return 503 if self is Status.UNHEALTHY else 200


@attrs.frozen
class ComponentReport:
    """The last report of one component."""

    #: The state the component reported.
    state: ComponentState
    #: Short human-readable detail (never secrets).
    detail: str
    #: Monotonic time of the report, seconds.
    at: float
    #: The report counts as stale (degraded) when older than this; None = never stale.
    stale_after_s: float | None = None


@attrs.frozen
class HealthReport:
    """The evaluated health, as served by ``/health``."""

    #: Overall status.
    status: Status
    #: Seconds since the registry was created.
    uptime_s: float
    #: Per component: its effective state, detail and the age of its report.
    components: Mapping[str, Mapping[str, Any]]
    #: Headline numbers (signals, clients, RSS, ...), JSON values only.
    metrics: Mapping[str, Any]
    #: Why the daemon is unhealthy, one line (``market: restricted location (HTTP 451) from
    #: region iad``); empty unless unhealthy.
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``/health`` body (``reason`` only when unhealthy)."""
        body: dict[str, Any] = {"status": self.status.value}
        if self.reason:
            body["reason"] = self.reason
        return body | {
            "uptime_s": round(self.uptime_s, 3),
            "components": {name: dict(info) for name, info in self.components.items()},
            "metrics": dict(self.metrics),
        }


def evaluate(
    reports: Mapping[str, ComponentReport | None],
    *,
    now: float,
    started_at: float,
    critical: Iterable[str] = CRITICAL,
    metrics: Mapping[str, Any] | None = None,
) -> HealthReport:
    """The overall health from the components' last reports (None = not reported yet)."""
    critical_set = frozenset(critical)
    status = Status.HEALTHY
    reasons: list[str] = []
    components: dict[str, Mapping[str, Any]] = {}
    for name, report in reports.items():
        if report is None:
            state, detail, age = ComponentState.STARTING, "no report yet", None
        else:
            state, detail, age = report.state, report.detail, max(0.0, now - report.at)
            if (
                report.stale_after_s is not None
                and age > report.stale_after_s
                and state in (ComponentState.OK, ComponentState.STARTING)
            ):
                state = ComponentState.DEGRADED
                detail = f"stale: no report for {age:.0f} s" + (f" ({detail})" if detail else "")
        if state is ComponentState.DOWN and name in critical_set:
            status = Status.UNHEALTHY
            reasons.append(f"{name}: {detail}")
        elif status is Status.HEALTHY and state in (
            ComponentState.DOWN,
            ComponentState.DEGRADED,
            ComponentState.STARTING,
        ):
            status = Status.DEGRADED
        components[name] = {
            "state": state.value,
            "detail": detail,
            "age_s": None if age is None else round(age, 3),
        }
    return HealthReport(
        status=status,
        uptime_s=max(0.0, now - started_at),
        components=components,
        metrics=dict(metrics or {}),
        reason="; ".join(reasons),
    )


class HealthRegistry:
    """Where services report their component state (sync; safe from any Trio task).

    Args:
        components: component names reported by ``/health`` (unknown names are added on report).
        critical: components whose ``down`` state makes the daemon unhealthy.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        components: Iterable[str] = COMPONENTS,
        *,
        critical: Iterable[str] = CRITICAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._started_at = clock()
        self._critical = frozenset(critical)
        self._reports: dict[str, ComponentReport | None] = dict.fromkeys(components)
        self._metrics_sources: list[Callable[[], Mapping[str, Any]]] = []

    def report(
        self,
        component: str,
        state: ComponentState | str,
        detail: str = "",
        *,
        stale_after_s: float | None = None,
    ) -> None:
        """Record ``component``'s current state (replaces its previous report)."""
        self._reports[component] = ComponentReport(
            state=ComponentState(state),
            detail=detail,
            at=self._clock(),
            stale_after_s=stale_after_s,
        )

    def add_metrics_source(self, source: Callable[[], Mapping[str, Any]]) -> None:
        """Add a callable whose (JSON) numbers appear under ``metrics`` in ``/health``."""
        self._metrics_sources.append(source)

    def evaluate(self) -> HealthReport:
        """The current :class:`HealthReport`."""
        metrics: dict[str, Any] = {}
        for source in self._metrics_sources:
            metrics.update(source())
        return evaluate(
            self._reports,
            now=self._clock(),
            started_at=self._started_at,
            critical=self._critical,
            metrics=metrics,
        )
