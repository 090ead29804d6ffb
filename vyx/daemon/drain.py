"""The stop's one time budget: ``DRAIN_TIMEOUT_S``, shared by the drain's stages in order.

=========  =====  ===========================================================================
stage      share  what happens in it
=========  =====  ===========================================================================
sources    40 %   the market closes its sockets and the event channel; the screener finishes
                  the events it already has (the screen in flight included)
marks      15 %   the delivery hands on the signals queued; the screener's progress is saved
                  once the store holds them
cloud      20 %   the cloud machine's final lifecycle row (at most 5 s; through the spool)
store      25 %   the store flushes what is still queued; browsers are closed with 1001
=========  =====  ===========================================================================

The shares add up to the whole: a stop never takes longer than the budget (a stage that ends
early leaves its time unused; the first two are deadlines from the stop's start, the last two
durations of their own).
"""

from __future__ import annotations

import attrs


@attrs.frozen
class DrainBudget:
    """``total_s`` split across the drain's stages (see the module's table)."""

    total_s: float

    def sources_until(self, begun: float) -> float:
        """Trio time by which the screener must have drained (``begun``: the stop's start)."""
        return begun + self.total_s * 0.40

    def marks_until(self, begun: float) -> float:
        """Trio time by which the screener's progress must be saved."""
        return begun + self.total_s * 0.55

    @property
    def cloud_final_write_s(self) -> float:
        """How long the cloud machine's final lifecycle write may take."""
        return min(5.0, self.total_s * 0.2)

    @property
    def store_flush_s(self) -> float:
        """How long the store may take to flush what is queued."""
        return self.total_s / 4
