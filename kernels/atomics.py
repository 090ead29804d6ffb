"""Atomic operations on ``int64`` array elements, in numba code (LLVM's atomic instructions).

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

from kernels.jit import entry

#: numba's code-generation helpers, untyped.
_cgutils: Any = cgutils
#: Linux's futex system call number on the CPUs where it is used (elsewhere :data:`FUTEX` is
#: False: nothing sleeps in numba code, see :mod:`kernels.threads`).
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}
_FUTEX_NR = _SYS_FUTEX.get(platform.machine().lower()) if sys.platform == "linux" else None
#: Can numba code sleep on a word and wake its sleepers (:func:`futex_wait`, :func:`wake_at`)?
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


def _at_typer(kind: str) -> Callable[..., Any]:
    def typer(typingctx: Any, address: Any, value: Any) -> Any:
        if address != types.int64 or value != types.int64:
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            i64 = ir.IntType(64)
            ptr = builder.inttoptr(args[0], i64.as_pointer())
            if kind == "store":
                builder.store_atomic(args[1], ptr, "seq_cst", 8)
                return ir.Constant(i64, 0)
            if kind == "add":
                return builder.atomic_rmw("add", ptr, args[1], "seq_cst")
            op = ir.Constant(i64, _FUTEX_WAKE_PRIVATE)
            return _syscall(builder, [args[0], op, args[1]])

        return types.int64(address, value), codegen

    return typer


#: ``load(arr, i)``: ``arr[i]`` read atomically (never cached in a register by a loop).
load = cast("Callable[[Any, int], int]", intrinsic(_load_typer))
#: ``store(arr, i, v)``: ``arr[i] = v`` atomically.
store = cast("Callable[[Any, int, int], None]", intrinsic(_store_typer))
#: ``fetch_add(arr, i, v)``: adds ``v`` to ``arr[i]`` atomically; returns the value before.
fetch_add = cast("Callable[[Any, int, int], int]", intrinsic(_add_typer))
#: ``pause()``: a hint that this is a spin loop (x86's ``pause``; nothing elsewhere).
pause = cast("Callable[[], None]", intrinsic(_pause_typer))
#: ``futex_wait(arr, i, v)``: sleeps while ``arr[i]``'s low 32 bits equal ``v``'s, until
#: :func:`wake_at` wakes it (or spuriously: callers check again). Linux only (:data:`FUTEX`).
futex_wait = cast("Callable[[Any, int, int], int]", intrinsic(_futex_wait_typer))
#: ``futex_wake(arr, i, n)``: wakes up to ``n`` threads asleep on ``arr[i]``
#: (:func:`futex_wait`). Linux only (:data:`FUTEX`).
futex_wake = cast("Callable[[Any, int, int], int]", intrinsic(_futex_wake_typer))
#: ``store_at(address, v)``: the ``int64`` at ``address`` set to ``v`` atomically.
store_at = cast("Callable[[int, int], int]", intrinsic(_at_typer("store")))
#: ``add_at(address, v)``: adds ``v`` to the ``int64`` at ``address`` atomically.
add_at = cast("Callable[[int, int], int]", intrinsic(_at_typer("add")))
#: ``wake_at(address, n)``: wakes up to ``n`` threads sleeping on the word at ``address``
#: (:func:`futex_wait`). Linux only (:data:`FUTEX`).
wake_at = cast("Callable[[int, int], int]", intrinsic(_at_typer("wake")))


#: Words of a crew's ``ctl`` (:class:`kernels.threads.Crew`): the job posted last, and the
#: word helpers sleep on (each on a cache line of its own).
POST, SEQ = 0, 8


@entry
def sleep_nb(ctl: Any, seen: int, spins: int) -> int:
    """A helper's wait, without the GIL, for ``ctl[POST]`` to change from ``seen`` (a job
    posted); returns it. After each wake-up it spins up to ``spins`` times, then sleeps on
    ``ctl[SEQ]`` (a futex; :data:`FUTEX` only)."""
    budget = 0
    while True:
        seq = load(ctl, SEQ)
        for _ in range(budget):
            if load(ctl, POST) != seen:
                break
            pause()
        posted = load(ctl, POST)
        if posted != seen:
            return posted
        futex_wait(ctl, SEQ, seq)
        budget = spins


@entry
def post_nb(ctl: Any, job: int) -> None:
    """Post ``job`` (``ctl[POST]``) and wake the helpers asleep in :func:`sleep_nb`; with
    ``job`` -1, only wakes them (they spin for the next post)."""
    if job >= 0:
        store(ctl, POST, job)
    fetch_add(ctl, SEQ, 1)
    futex_wake(ctl, SEQ, 1 << 30)
