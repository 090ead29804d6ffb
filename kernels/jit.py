"""How kernels are compiled and cached: numba's options for them.

- **No runtime.** The interpreter, the kernel families and their kernels allocate nothing, so
  they are compiled without numba's runtime: numba then adds no reference counting of the
  arrays they pass each other (with it, every call with array arguments costs atomic
  increments and decrements, which dominated the interpreter's time).
- **NumPy's error model.** A division by zero gives inf or NaN instead of raising (kernels
  guard every division whose result they use), which spares each division a check.
- **No wrappers.** Functions only ever called from other kernels skip the wrappers that make
  them callable from Python (a third of their compile time). Kernels called from Python skip
  the C-callable wrapper (nothing calls one; the interpreter is called by address from the
  warm-up replay).
- **No idle passes.** numba's pipeline without the passes that change nothing in code without
  the runtime (:data:`_IDLE_PASSES`): the machine code is the same (compared), ~5 % of the
  first compile's CPU.
- **No ``del`` statements.** numba's last pass before lowering marks each variable's last
  use, which lowers to code that only the runtime needs (``_LEGALIZED``): ~4 % of the first
  compile's CPU; the machine code is the same.
- **One specialization per argument types.** numba compiles a kernel called with a constant
  (``_directional(..., 2)``) once per constant value; kernels here are compiled once per
  argument *types* (11 specializations were 5; ~13 % of the first compile's CPU). The
  constant is then a run-time value: measured, no kernel got slower (the branch is loop
  invariant).
- **Linked code is not compiled on its own.** numba optimizes every compiled function's
  module and makes it machine code, then links that code into each caller and optimizes and
  emits it again there. A kernel only ever called from other kernels (:data:`loops`) is
  linked into its family's code, the only one run: its own module is optimized function by
  function only and never made machine code (~20 % of the first compile's CPU; the family's
  optimized code is the same quality).
- **Helpers inlined by LLVM, not numba.** numba's ``inline="always"`` copies a helper's code
  into every call site and types and lowers each copy again there (``stats.track``: 7 copies,
  ``elementwise._u``: 21); a helper decorated :data:`inlined_loops` is typed and lowered once
  and LLVM inlines its code where it is called (the same arithmetic: outputs are bit for bit
  the same). Kept as numba's where LLVM's inlining measured slower: the interpreter's helpers
  (``interp``, ``firing``: the backtest ~3 % slower) and ``candles``' field reads (some
  patterns 5-13 % slower).
- **numba's inlining copies a helper once.** Its ``inline="always"`` copied the helper's
  scope once per block of the helper (:mod:`kernels.inline_copies`): ~10 % of the
  interpreter's compile CPU; the machine code is the same.
- **Only compiled units are cached.** A kernel is compiled into its family's code; only the
  families (:data:`family`), the interpreter and the firing pass (:data:`entry`) are written
  to numba's cache, the only code a process ever loads from it.
- **One cache key for all kernel sources.** numba keys a cached function on its own source
  file only, so a change to a kernel would leave the interpreter (which has it compiled in)
  stale. Here every cached kernel function's key also holds a digest of every source file
  compiled code comes from (:data:`SOURCES`): any change there recompiles, nothing is stale.
- **Loading is not compiling.** numba refreshes its target context before loading a cached
  function: it imports and registers every implementation its compiler has (typed containers,
  linear algebra, random generators, ...), ~48 MiB of a process that only runs the cached
  kernels. Loading a kernel here skips that (the machine code needs none of it); compiling
  still refreshes, as numba's compiler does that itself.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from llvmlite import binding, ir
from numba import njit, types
from numba.core.caching import FunctionCache
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import Compiler, DefaultPassBuilder
from numba.core.typed_passes import IRLegalization, NopythonRewrites, PreLowerStripPhis
from numba.core.untyped_passes import InlineClosureLikes, ReconstructSSA, WithLifting
from numba.extending import overload

from kernels import inline_copies

_HERE = Path(__file__).resolve().parent

inline_copies.install()

#: Files the compiled kernels are made of (relative to the ``kernels`` package): every file
#: with jitted code (a test checks), so a change to one recompiles its callers too.
SOURCES = (
    "interp.py",
    "batches.py",
    "replay.py",
    "firing.py",
    "families.py",
    "family_table.py",
    "ops.py",
    "jit.py",
    "atomics.py",
    "handoff.py",
    "outcomes.py",
    "outcome_levels.py",
    "record_sums.py",
    "csv_parse.py",
    "ind/*.py",
)


def sources_digest(root: Path = _HERE) -> str:
    """A digest of the :data:`SOURCES` under ``root`` (the ``kernels`` package)."""
    files = sorted({p for pattern in SOURCES for p in root.glob(pattern)})
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_DIGEST = sources_digest()


#: numba's class, untyped.
_FunctionCache: Any = FunctionCache


class _KernelCache(_FunctionCache):  # type: ignore[misc]
    """numba's on-disk cache of a function, keyed on every kernel source too."""

    def _index_key(self, sig: object, codegen: object) -> tuple[object, ...]:
        key: tuple[object, ...] = super()._index_key(sig, codegen)
        return (*key, _DIGEST)

    def load_overload(self, sig: object, target_context: Any) -> Any:
        """numba's, without its ``target_context.refresh()`` first (see the module)."""
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


def _one_specialization(dispatcher: Any) -> None:
    """Calls from other kernels compile ``dispatcher`` once per argument *types*: numba
    would compile it again for each constant value passed (``Literal[int](2)``)."""
    template = type(dispatcher).get_call_template
    unliteral: Callable[[Any], Any] = types.unliteral

    def get_call_template(args: Any, kws: Any) -> Any:
        args = [unliteral(a) for a in args]
        kws = {k: unliteral(v) for k, v in kws.items()}
        return template(dispatcher, args, kws)

    dispatcher.get_call_template = get_call_template


#: numba's classes, untyped.
_JITCodeLibrary: Any = JITCodeLibrary
_Compiler: Any = Compiler
_DefaultPassBuilder: Any = DefaultPassBuilder
#: How numba names a compiled function's environment slot.
_ENV_PREFIX = "_ZN08NumbaEnv"


#: numba's passes that change nothing in our kernels: ``with`` blocks lifted to object mode
#: and locally defined closures inlined (kernels have neither), and the rewrites after typing
#: (array expressions and arrays of constants allocate, which code without the runtime cannot;
#: string-literal indexes of records, which kernels do not have). Dropping them leaves the
#: machine code of the interpreter and of every family the same (compared instruction by
#: instruction).
_IDLE_PASSES = (WithLifting, InlineClosureLikes, NopythonRewrites)

#: numba's conversion of a function's IR to SSA form before typing (its phis stripped again
#: before lowering): ~6 % of the first compile's CPU, skipped outside these modules. Typed
#: without it, code is the same arithmetic (no fast-math) and LLVM makes its own SSA form:
#: the machine code of the interpreter, the crew's waits, the outcome kernels, the klines
#: reader, the replay and the other families is the same (compared instruction by
#: instruction); these modules' kernels got another register allocation, so they keep it.
_SSA_KEPT = frozenset(
    f"kernels.ind.{name}"
    for name in ("access", "averages", "cci", "oscillators", "stats", "trend", "volume", "windows")
)
_SSA_PASSES = (ReconstructSSA, PreLowerStripPhis)

#: numba's last pass before lowering, skipped outside these modules: it checks the IR and
#: inserts a ``del`` after each variable's last use, which lowering makes a reference count
#: decrement (none without the runtime) and a store of zero into the dead variable's slot,
#: code LLVM then deletes (its cost: ~0.5 s of a cold compile's CPU, ~4 %, the pass and the
#: lowering and optimizing of that code). Without it the machine code of the interpreter, of
#: every family, the outcome kernels, the crew's waits and the replay is the same (compared
#: instruction by instruction); the klines reader's blocks were laid out in another order,
#: so it keeps it.
_LEGALIZED = frozenset({"kernels.csv_parse"})


class _LeanCompiler(_Compiler):  # type: ignore[misc]
    """numba's nopython pipeline without :data:`_IDLE_PASSES` nor, outside
    :data:`_SSA_KEPT`, :data:`_SSA_PASSES`, nor outside :data:`_LEGALIZED`,
    ``IRLegalization`` (their compile time)."""

    def define_pipelines(self) -> list[Any]:
        pipeline: Any = _DefaultPassBuilder.define_nopython_pipeline(self.state)
        skipped: tuple[type, ...] = _IDLE_PASSES
        if self.state.func_id.modname not in _SSA_KEPT:
            skipped += _SSA_PASSES
        if self.state.func_id.modname not in _LEGALIZED:
            skipped += (IRLegalization,)
        pipeline.passes = [p for p in pipeline.passes if p[0] not in skipped]
        pipeline.finalize()
        return [pipeline]


class _LinkedLibrary(_JITCodeLibrary):  # type: ignore[misc]
    """The code of a kernel only ever linked into its callers' (see the module): optimized
    function by function only, never at module level nor made machine code on its own, as
    its callers do both with it. The engine gets its environment slots only (numba writes
    each compiled function's environment pointer there)."""

    def _optimize_final_module(self) -> None:
        """Not here: its callers' modules optimize it with their own code."""

    def _finalize_final_module(self) -> None:
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        slots = self._codegen._create_empty_module(self.name + ".env")
        for value in self._final_module.global_variables:
            if value.name.startswith(_ENV_PREFIX):
                slot = ir.GlobalVariable(slots, ir.IntType(8).as_pointer(), value.name)
                slot.linkage = "common"
                slot.initializer = ir.Constant(slot.type.pointee, None)
        self._codegen._add_module(binding.parse_assembly(str(slots)))
        self._finalize_specific()
        self._finalized = True


class _LinkedCompiler(_LeanCompiler):
    """numba's compiler, into a :class:`_LinkedLibrary`."""

    def compile_extra(self, func: Any) -> Any:
        self.state.library = _LinkedLibrary(self.state.targetctx.codegen(), func.__qualname__)
        return super().compile_extra(func)


_NO_RUNTIME = cast(
    "dict[str, Any]", {"_nrt": False, "error_model": "numpy", "pipeline_class": _LeanCompiler}
)
_INTERNAL = cast("dict[str, Any]", {"no_cpython_wrapper": True, "no_cfunc_wrapper": True})


def _kernels(cached: bool, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    jit = njit(nogil=True, **options)

    def decorate(fn: Callable[..., Any]) -> Any:
        dispatcher = jit(fn)
        if cached:
            dispatcher._cache = _KernelCache(dispatcher.py_func)
        _one_specialization(dispatcher)
        return dispatcher

    return decorate


#: Decorator of kernels and loops called only from other kernels: no runtime, not cached on
#: their own (they are compiled into their family's cached code, the only one ever loaded).
#: ``forceinline`` is set (off) so that a loop called from an :data:`inlined_loops` one does
#: not inherit it (numba passes a caller's unset flags on to its callees).
#: :data:`loops`' options, for the implementations of ``numba.extending.overload``.
LOOPS: dict[str, Any] = {
    **_NO_RUNTIME,
    **_INTERNAL,
    "forceinline": False,
    "pipeline_class": _LinkedCompiler,
}
loops = _kernels(False, **LOOPS)

#: ``numba.extending.overload(f)``, its implementations compiled as :data:`loops` are (only
#: linked into their callers: a kernel of their own would emit its callees' code again).
_overload: Any = overload
overload_loops: Any = functools.partial(_overload, jit_options={**LOOPS, "nogil": True})

#: Decorator of a loop or a small helper that LLVM inlines where it is called (a family's
#: ``block_nb`` calling a loop once: the interpreter then calls the loop in one call, not two;
#: a helper called from several kernels: see the module, "Helpers inlined by LLVM").
inlined_loops = _kernels(False, **{**LOOPS, "forceinline": True})

#: Decorator of a family's ``block_nb`` (a compiled unit, called only from the interpreter):
#: cached, no runtime.
family = _kernels(True, **_NO_RUNTIME, **_INTERNAL)

#: Decorator of a compiled unit called from Python (and by address from other kernels: the
#: interpreter): cached, releases the GIL, no runtime, and no C-callable wrapper (nothing
#: calls one; its compile time).
entry = _kernels(True, **_NO_RUNTIME, no_cfunc_wrapper=True)
