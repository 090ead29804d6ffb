"""The kernels' numba pipeline (kernels.jit._LeanCompiler): which of numba's passes it runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numba import njit

from kernels import jit


def _passes(options: dict[str, Any]) -> list[str]:
    def total(values: Any) -> float:
        s = 0.0
        for v in values:
            if v > 0:
                s += v
        return s

    kernel = njit(**options)(total)
    assert kernel(np.array([1.0, -2.0, 3.0])) == 4.0
    times = kernel.overloads[kernel.signatures[0]].metadata["pipeline_times"]["nopython"]
    return [name.split("_", 1)[1] for name in times]


def test_a_kernel_is_lowered_without_dels_outside_the_legalized_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = jit.LOOPS | {"no_cpython_wrapper": False, "pipeline_class": jit._LeanCompiler}
    passes = _passes(options)
    assert "native_lowering" in passes
    assert "ir_legalization" not in passes
    monkeypatch.setattr(jit, "_LEGALIZED", jit._LEGALIZED | {__name__})
    assert "ir_legalization" in _passes(options)
