"""numba's ``inline="always"`` with the callee's IR copied once, not once per block.

To inline a helper at a call site, numba deep-copies the helper's IR (twice: a copy to inline
and an unchanged one it returns), block by block, each block with a memo of its own
(``InlineWorker.inline_ir``'s ``copy_ir``). Every variable of a block refers to the
function's scope, which holds every variable of the function: each block's copy copies the
whole scope again, so a copy costs blocks times variables. The interpreter inlines its
helpers (:mod:`kernels.interp`, :mod:`kernels.firing`, :mod:`kernels.batches`) at 40-odd
call sites: those copies were ~10 % of its compile CPU (~0.35 s of ~3.4, on its process's
critical path in a cold compile).

:func:`install` makes the blocks of one IR share a memo, as a deep copy of the IR whole
would: the scope and the variables are copied once. Nothing else changes: numba then renames
every variable of the copy into the caller's scope and points each block at that scope, so
the copied scopes are dropped either way; the machine code of every compiled unit is the
same (compared instruction by instruction).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numba
from numba.core import inline_closurecall, ir


class _BlockCopies:
    """The ``copy`` module as numba's inliner sees it: a block deep-copied without a memo
    (``copy_ir``) gets the memo of its scope's other blocks while :attr:`memos` is set (one
    inlining)."""

    copy = staticmethod(copy.copy)

    def __init__(self) -> None:
        self.memos: dict[int, dict[int, Any]] | None = None

    def deepcopy(self, x: Any, memo: dict[int, Any] | None = None) -> Any:
        """``copy.deepcopy``, with one memo for the blocks of a scope (see the class)."""
        if memo is None and self.memos is not None and isinstance(x, ir.Block):
            memo = self.memos.setdefault(id(x.scope), {})
        return copy.deepcopy(x, memo)


_COPIES = _BlockCopies()
_installed = False


#: The numba release this replacement was written for and checked against (its machine code
#: compared); another release keeps numba's own inliner (slower to compile, nothing else).
NUMBA_VERSION = "0.68.1"


def install() -> None:
    """Have numba's inliner copy an IR's scope once per copy (idempotent; see the module),
    with numba :data:`NUMBA_VERSION` only."""
    global _installed
    if _installed or numba.__version__ != NUMBA_VERSION:
        return
    worker: Any = inline_closurecall.InlineWorker
    inline_ir = worker.inline_ir

    @functools.wraps(inline_ir)
    def shared_memo_inline_ir(*args: Any, **kwargs: Any) -> Any:
        # Memos by source scope, kept for one inlining: its two copies are of different IRs.
        outer, _COPIES.memos = _COPIES.memos, {}
        try:
            return inline_ir(*args, **kwargs)
        finally:
            _COPIES.memos = outer

    worker.inline_ir = shared_memo_inline_ir
    module: Any = inline_closurecall
    module.copy = _COPIES
    _installed = True
