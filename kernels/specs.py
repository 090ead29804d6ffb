"""Every opcode's :class:`~kernels.ops.OpSpec`, gathered from the kernel families."""

from __future__ import annotations

from kernels import ops
from kernels.ind import averages, candles, oscillators, stats, structure, trend, volume
from kernels.ops import OpSpec

SPECS: dict[int, OpSpec] = {
    **ops.SPECS,
    **averages.SPECS,
    **stats.SPECS,
    **oscillators.SPECS,
    **trend.SPECS,
    **volume.SPECS,
    **structure.SPECS,
    **candles.SPECS,
}
