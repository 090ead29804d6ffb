"""numba's inliner with an IR's blocks copied with one memo (kernels.inline_copies)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numba.core import inline_closurecall as numba_inliner
from numba.core import ir as numba_ir

from kernels import inline_copies, jit


@njit(inline="always")
def _clipped_sum(values: Any, low: float, high: float) -> float:
    total = 0.0
    for v in values:
        if v < low:
            total += low
        elif v > high:
            total += high
        else:
            total += v
    return total


@njit
def _twice(values: Any) -> float:
    return _clipped_sum(values, 1.0, 3.0) + _clipped_sum(values, 0.0, 2.0)


inline_closurecall: Any = numba_inliner


def test_the_blocks_of_an_inlined_helper_share_one_copy_of_its_scope() -> None:
    assert jit is not None  # importing kernels.jit installs it
    copied: list[Any] = []
    copies = inline_closurecall.copy

    class Recording:
        copy = staticmethod(copies.copy)

        @staticmethod
        def deepcopy(x: Any, memo: Any = None) -> Any:
            out = copies.deepcopy(x, memo)
            if isinstance(x, numba_ir.Block):
                copied.append((copies.memos, x, out))  # memos: this inlining's
            return out

    inline_closurecall.copy = Recording
    try:
        # Clipped to 1..3: 1 + 1.5 + 2.5 + 3; to 0..2: 0.5 + 1.5 + 2 + 2.
        assert _twice(np.array([0.5, 1.5, 2.5, 3.5])) == 8.0 + 6.0
    finally:
        inline_closurecall.copy = copies
    # Two inlinings, each copying two IRs (its copy, then an unchanged copy of that).
    assert len({id(memos) for memos, _, _ in copied}) == 2
    by_source: dict[tuple[int, int], list[int]] = {}
    for memos, source, out in copied:
        assert out is not source
        assert out.scope is not source.scope
        by_source.setdefault((id(memos), id(source.scope)), []).append(id(out.scope))
    assert min(len(scopes) for scopes in by_source.values()) > 2  # the helper's blocks
    assert all(len(set(scopes)) == 1 for scopes in by_source.values())


def test_install_is_idempotent_and_blocks_copied_outside_an_inlining_keep_their_own() -> None:
    inline_copies.install()
    inline_copies.install()
    ir: Any = numba_ir
    scope = ir.Scope(None, ir.Loc("f", 1))
    first, second = ir.Block(scope, ir.Loc("f", 1)), ir.Block(scope, ir.Loc("f", 2))
    copies = inline_closurecall.copy
    assert copies.deepcopy(first).scope is not copies.deepcopy(second).scope


def test_another_numba_release_keeps_numbas_own_inliner(monkeypatch: Any) -> None:
    import copy

    import numba

    monkeypatch.setattr(inline_copies, "_installed", False)
    monkeypatch.setattr(numba, "__version__", "0.69.0")
    monkeypatch.setattr(inline_closurecall, "copy", copy)
    worker = inline_closurecall.InlineWorker
    monkeypatch.setattr(worker, "inline_ir", worker.inline_ir)
    own = worker.inline_ir
    inline_copies.install()
    assert inline_closurecall.copy is copy
    assert worker.inline_ir is own
    assert not inline_copies._installed
