"""The market's start-up phases, as the daemon hears them (``/health`` while starting)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

#: Told how start-up goes: ``(phase, detail)`` with phase ``connecting`` (first requests),
#: ``unreachable`` (a request failed; retrying), ``backfilling`` or ``streaming`` (started);
#: and ``restricted`` (Binance refuses the location: stopped for good), at any time.
PhaseCallback = Callable[[str, str], None]


@attrs.define
class StartupPhases:
    """Start-up phases, told to ``on_phase`` until the market has started."""

    on_phase: PhaseCallback | None
    starting: bool = True

    def __call__(self, phase: str, detail: str) -> None:
        if self.starting and self.on_phase is not None:
            self.on_phase(phase, detail)

    def unreachable(self, what: str) -> None:
        """A request failed and is retried."""
        self("unreachable", what)

    def restricted(self, detail: str) -> None:
        """Binance refuses the location: told even after start-up, and the last phase told."""
        if self.on_phase is not None:
            self.on_phase("restricted", detail)
        self.starting = False
