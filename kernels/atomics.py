"""Atomic operations on ``int64`` array elements, in numba code (LLVM's atomic instructions).

Threads stepping one job share a few counters (:func:`kernels.interp.run_nb`'s ``claims``):
the next piece to take and the pieces done. They are read and changed here with sequentially
consistent atomics, so a piece is taken by exactly one thread and a thread that sees a piece
done sees everything its thread wrote before.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: numba's code-generation helpers, untyped.
_cgutils: Any = cgutils
#: x86 has a ``pause`` instruction for spin loops (it yields the core's pipeline); elsewhere
#: a spin loop is a plain loop of atomic loads.
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _item_pointer(context: Any, builder: Any, aryty: Any, ary: Any, index: Any) -> Any:
    array = context.make_array(aryty)(context, builder, ary)
    return _cgutils.get_item_pointer(context, builder, aryty, array, [index])


def _int64_array(arr: Any) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1


def _load_typer(typingctx: Any, arr: Any, index: Any) -> Any:
    if not (_int64_array(arr) and isinstance(index, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "seq_cst", 8)

    return types.int64(arr, index), codegen


def _add_typer(typingctx: Any, arr: Any, index: Any, value: Any) -> Any:
    if not (_int64_array(arr) and isinstance(index, types.Integer) and value == types.int64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return types.int64(arr, index, value), codegen


def _pause_typer(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            fn = _cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


#: ``load(arr, i)``: ``arr[i]`` read atomically (never cached in a register by a loop).
load = cast("Callable[[Any, int], int]", intrinsic(_load_typer))
#: ``fetch_add(arr, i, v)``: adds ``v`` to ``arr[i]`` atomically; returns the value before.
fetch_add = cast("Callable[[Any, int, int], int]", intrinsic(_add_typer))
#: ``pause()``: a hint that this is a spin loop (x86's ``pause``; nothing elsewhere).
pause = cast("Callable[[], None]", intrinsic(_pause_typer))
