"""The table through which the interpreter calls the kernel families.

The interpreter (:func:`kernels.interp.run_nb`) calls a node's family
(:data:`kernels.families.FAMILIES`) through a table of their machine-code addresses rather
than by linking their code into its own: numba would otherwise link every family's code into
the interpreter and optimize and emit all of it once more, so the interpreter could only
compile after every family and took as long as a large family again (the first compile's
serial tail). Through the table the interpreter and every family are independent compiled
units: they compile side by side in parallel processes (:mod:`kernels.precompile`) and are
each cached on their own.

Contract:

- the table is one array of :data:`~kernels.families.FAMILIES`' length in this process's
  memory, known to the compiled interpreter by a symbol name (:data:`SYMBOL`) that
  ``llvmlite`` resolves when the interpreter's machine code is loaded, from the cache or
  freshly compiled: the cached code holds no address, only the name;
- :func:`load_families` fills it (each family loaded from the cache, or compiled);
  :func:`needs_families` makes a dispatcher do that before it first returns a compiled
  interpreter, so every process that gets one has the table filled;
- a family called through an empty entry raises ``RuntimeError`` (never a jump to address 0);
- :func:`call_family` is called with exactly :data:`FAMILY_SIGNATURE`'s types (a
  ``TypingError`` otherwise): the table's entries are the families compiled for it.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from typing import Any

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from kernels.families import FAMILIES

_TUPLE: Any = types.UniTuple
_I1, _I2 = types.int64[::1], types.int64[:, ::1]

#: The signature every family's ``block_nb`` is compiled for (and called with).
FAMILY_SIGNATURE = (
    types.int64,
    types.float64[:, ::1],
    _I2,
    types.int64,
    _TUPLE(types.int64, 4),
    _I1,
    _I1,
    _TUPLE(types.float64, 4),
    types.int64,
    types.int64,
    types.float64[::1],
)

#: The symbol the compiled interpreter knows the table by.
SYMBOL = "vyx_kernel_family_table"

_TABLE = (ctypes.c_uint64 * len(FAMILIES))()
binding.add_symbol(SYMBOL, ctypes.addressof(_TABLE))
_deferred = False
_unliteral: Any = types.unliteral
_if_unlikely: Any = cgutils.if_unlikely


def family_address(index: int) -> int:
    """Family ``index``'s entry point, compiled or loaded from the cache."""
    dispatcher = FAMILIES[index].block_nb
    dispatcher.compile(FAMILY_SIGNATURE)
    compiled = dispatcher.overloads[FAMILY_SIGNATURE]
    address: int = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)
    return address


def load_families() -> None:
    """Fill the table: every family loaded from numba's cache (or compiled)."""
    for index in range(len(FAMILIES)):
        if not _TABLE[index]:
            _TABLE[index] = family_address(index)


def needs_families(dispatcher: Any) -> None:
    """``dispatcher`` (the interpreter) fills the table before it adds a compiled (or
    loaded) version of itself, unless within :func:`deferred`."""
    add_overload = dispatcher.add_overload

    def add_overload_with_families(compiled: Any) -> None:
        if not _deferred:
            load_families()
        add_overload(compiled)

    dispatcher.add_overload = add_overload_with_families


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Compile the interpreter without filling the table (a process that compiles it as one
    unit while others compile the families): whoever runs it calls :func:`load_families`."""
    global _deferred
    _deferred = True
    try:
        yield
    finally:
        _deferred = False


def function_type(context: Any) -> ir.FunctionType:
    """The machine-level type of a family's entry point (numba's calling convention)."""
    fnty: ir.FunctionType = context.call_conv.get_function_type(types.none, FAMILY_SIGNATURE)
    return fnty


@intrinsic(prefer_literal=False)
def _call_family(typingctx, f, o, rows, items, st, inp, roff, rdep, p, oj, mj, tmp):  # type: ignore[no-untyped-def]
    """Call family ``f``'s ``block_nb(o, rows, items, st, inp, roff, rdep, p, oj, mj, tmp)``
    through the table."""
    args = tuple(_unliteral(a) for a in (o, rows, items, st, inp, roff, rdep, p, oj, mj, tmp))
    if _unliteral(f) != types.int64 or args != FAMILY_SIGNATURE:
        raise errors.TypingError(f"call_family{(f, *args)} is not (int64, *FAMILY_SIGNATURE)")

    def codegen(context, builder, signature, llargs):  # type: ignore[no-untyped-def]
        module = builder.module
        try:
            table = module.get_global(SYMBOL)
        except KeyError:
            table = ir.GlobalVariable(module, ir.ArrayType(ir.IntType(64), len(FAMILIES)), SYMBOL)
            table.linkage = "external"
        zero = ir.Constant(ir.IntType(64), 0)
        address = builder.load(builder.gep(table, [zero, llargs[0]]))
        with _if_unlikely(builder, builder.icmp_unsigned("==", address, zero)):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("a kernel family is not loaded",)
            )
        callee = builder.inttoptr(address, function_type(context).as_pointer())
        status, _ = context.call_conv.call_function(
            builder, callee, types.none, FAMILY_SIGNATURE, llargs[1:]
        )
        with _if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return types.none(types.int64, *FAMILY_SIGNATURE), codegen


#: :func:`_call_family` (untyped for mypy: numba's intrinsic takes the typing context first).
call_family: Any = _call_family
