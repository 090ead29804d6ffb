"""Atomic operations on ``int64`` array elements, in numba code (LLVM's atomic instructions),
and arrays handed from one thread's numba call to another's by address.

Threads stepping one job share a few counters (:func:`kernels.interp.run_nb`'s ``claims``):
the next piece to take and the pieces done. They are read and changed here with sequentially
consistent atomics, so a piece is taken by exactly one thread and a thread that sees a piece
done sees everything its thread wrote before.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np import arrayobj

from kernels.jit import entry

#: numba's code-generation helpers, untyped.
_cgutils: Any = cgutils
#: numba's array construction, untyped.
_arrayobj: Any = arrayobj
#: Linux's futex system call number on the CPUs where it is used (elsewhere :data:`FUTEX` is
#: False: nothing sleeps in numba code, see :mod:`kernels.threads`).
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}
_FUTEX_NR = _SYS_FUTEX.get(platform.machine().lower()) if sys.platform == "linux" else None
#: Can numba code sleep on a word and wake its sleepers (:func:`futex_wait`, :func:`futex_wake`)?
FUTEX = _FUTEX_NR is not None
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129
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


def _store_typer(typingctx: Any, arr: Any, index: Any, value: Any) -> Any:
    if not (_int64_array(arr) and isinstance(index, types.Integer) and value == types.int64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], ptr, "seq_cst", 8)
        return context.get_dummy_value()

    return types.void(arr, index, value), codegen


def _swap_typer(typingctx: Any, arr: Any, index: Any, expected: Any, value: Any) -> Any:
    ints = expected == types.int64 and value == types.int64
    if not (_int64_array(arr) and isinstance(index, types.Integer) and ints):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        pair = builder.cmpxchg(ptr, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(arr, index, expected, value), codegen


def _words_and_c_array(words: Any, index: Any, arr: Any) -> bool:
    """Are ``words[index]`` an int64 array's word and ``arr`` a C-contiguous array (the types
    :func:`put_array` and :func:`view_at` take)?"""
    return (
        _int64_array(words)
        and isinstance(index, types.Integer)
        and isinstance(arr, types.Array)
        and arr.layout == "C"
    )


def _put_typer(typingctx: Any, words: Any, index: Any, arr: Any) -> Any:
    if not _words_and_c_array(words, index, arr):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        at = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        i64 = ir.IntType(64)
        array = context.make_array(signature.args[2])(context, builder, args[2])
        builder.store(builder.ptrtoint(array.data, i64), at)
        for d, dim in enumerate(_cgutils.unpack_tuple(builder, array.shape)):
            builder.store(dim, builder.gep(at, [ir.Constant(i64, 1 + d)]))
        return context.get_dummy_value()

    return types.void(words, index, arr), codegen


def _view_typer(typingctx: Any, words: Any, index: Any, like: Any) -> Any:
    if not _words_and_c_array(words, index, like):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[2]
        at = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        i64 = ir.IntType(64)
        address = builder.load(at)
        dims = [builder.load(builder.gep(at, [ir.Constant(i64, 1 + d)])) for d in range(aryty.ndim)]
        itemsize = context.get_abi_sizeof(context.get_data_type(aryty.dtype))
        strides = [ir.Constant(i64, itemsize)]
        for d in range(aryty.ndim - 1, 0, -1):
            strides.insert(0, builder.mul(strides[0], dims[d]))
        array = context.make_array(aryty)(context, builder)
        _arrayobj.populate_array(
            array,
            data=builder.inttoptr(address, array.data.type),
            shape=_cgutils.pack_array(builder, dims),
            strides=_cgutils.pack_array(builder, strides),
            itemsize=ir.Constant(i64, itemsize),
            meminfo=None,
        )
        return array._getvalue()

    return like(words, index, like), codegen


def _pause_typer(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            fn = _cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


def _syscall(builder: Any, args: list[Any]) -> Any:
    i64 = ir.IntType(64)
    if _FUTEX_NR is None:
        return ir.Constant(i64, -1)  # no futex here: nothing sleeps or is woken in numba code
    fnty = ir.FunctionType(i64, [i64], var_arg=True)
    fn = _cgutils.get_or_insert_function(builder.module, fnty, "syscall")
    return builder.call(fn, [ir.Constant(i64, _FUTEX_NR or 0), *args])


def _futex_wait_typer(typingctx: Any, arr: Any, index: Any, expected: Any) -> Any:
    if not (_int64_array(arr) and isinstance(index, types.Integer) and expected == types.int64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i64, i32 = ir.IntType(64), ir.IntType(32)
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        # The kernel compares the word's low 32 bits (little-endian: its first four bytes).
        low = builder.sext(builder.trunc(args[2], i32), i64)
        op = ir.Constant(i64, _FUTEX_WAIT_PRIVATE)
        return _syscall(builder, [builder.ptrtoint(ptr, i64), op, low, ir.Constant(i64, 0)])

    return types.int64(arr, index, expected), codegen


def _futex_wake_typer(typingctx: Any, arr: Any, index: Any, n: Any) -> Any:
    if not (_int64_array(arr) and isinstance(index, types.Integer) and n == types.int64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i64 = ir.IntType(64)
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1])
        op = ir.Constant(i64, _FUTEX_WAKE_PRIVATE)
        return _syscall(builder, [builder.ptrtoint(ptr, i64), op, args[2]])

    return types.int64(arr, index, n), codegen


#: ``load(arr, i)``: ``arr[i]`` read atomically (never cached in a register by a loop).
load = cast("Callable[[Any, int], int]", intrinsic(_load_typer))
#: ``store(arr, i, v)``: ``arr[i] = v`` atomically.
store = cast("Callable[[Any, int, int], None]", intrinsic(_store_typer))
#: ``fetch_add(arr, i, v)``: adds ``v`` to ``arr[i]`` atomically; returns the value before.
fetch_add = cast("Callable[[Any, int, int], int]", intrinsic(_add_typer))
#: ``compare_swap(arr, i, expected, v)``: ``arr[i] = v`` if ``arr[i]`` is ``expected``, atomically;
#: returns whether it was.
compare_swap = cast("Callable[[Any, int, int, int], bool]", intrinsic(_swap_typer))
#: ``put_array(words, i, arr)``: the address and shape of ``arr`` (C-contiguous) into
#: ``words[i:]`` (read back by :func:`view_at`).
put_array = cast("Callable[[Any, int, Any], None]", intrinsic(_put_typer))
#: ``view_at(words, i, like)``: the array of ``like``'s type (C-contiguous) at address
#: ``words[i]`` with shape ``words[i + 1 : i + 1 + like.ndim]`` (see :func:`put_array`); it
#: owns nothing: whoever wrote the words keeps the memory alive while it is used.
view_at = cast("Callable[[Any, int, Any], Any]", intrinsic(_view_typer))
#: ``pause()``: a hint that this is a spin loop (x86's ``pause``; nothing elsewhere).
pause = cast("Callable[[], None]", intrinsic(_pause_typer))
#: ``futex_wait(arr, i, v)``: sleeps while ``arr[i]``'s low 32 bits equal ``v``'s, until
#: :func:`futex_wake` wakes it (or spuriously: callers check again). Linux only (:data:`FUTEX`).
futex_wait = cast("Callable[[Any, int, int], int]", intrinsic(_futex_wait_typer))
#: ``futex_wake(arr, i, n)``: wakes up to ``n`` threads asleep on ``arr[i]``
#: (:func:`futex_wait`). Linux only (:data:`FUTEX`).
futex_wake = cast("Callable[[Any, int, int], int]", intrinsic(_futex_wake_typer))


@entry
def ring_nb(words: Any, i: int) -> None:
    """Add 1 to ``words[i]`` and wake every thread asleep on it (:func:`futex_wait`)."""
    fetch_add(words, i, 1)
    futex_wake(words, i, 1 << 30)
