"""Compiling the kernels up front, and their cache keys."""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from llvmlite import binding, ir
from numba import njit, types
from numba.core.dispatcher import Dispatcher

import kernels
from kernels import family_table, jit, ops, precompile
from kernels.families import FAMILIES, table
from kernels.family_table import FAMILY_SIGNATURE, function_type, load_families
from kernels.graph import Graph
from kernels.interp import run_nb
from kernels.precompile import INTERP_SIGNATURE, ensure_compiled, is_cached
from kernels.series import make_bars, run_graph
from kernels.specs import SPECS

KERNELS = Path(jit.__file__).resolve().parent


def test_after_ensure_compiled_the_kernels_come_from_the_cache() -> None:
    steps: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, what: str) -> None:
        steps.append((done, total, what))

    report = ensure_compiled(progress, processes=1)
    assert is_cached()
    assert steps[-1][0] == steps[-1][1]
    assert len(steps) == (1 if report.cached else len(precompile.units()))
    assert INTERP_SIGNATURE in run_nb.signatures
    assert ensure_compiled().cached


def test_a_change_to_any_kernel_source_changes_every_cache_key(tmp_path: Path) -> None:
    copy = tmp_path / "kernels"
    shutil.copytree(KERNELS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert jit.sources_digest(copy) == jit.sources_digest()
    kernel = copy / "ind" / "averages.py"
    kernel.write_text(kernel.read_text() + "\n# an edit\n")
    assert jit.sources_digest(copy) != jit.sources_digest()


_JITTED = re.compile(r"^@(entry|family|loops|inlined_loops|inline|njit)\b|\bnjit\(", re.M)


def test_every_file_with_jitted_code_is_in_the_cache_key() -> None:
    # numba keys a cached function on its own file: one inlining a helper from another file
    # (outcome_levels from outcomes) would stay stale after an edit of that file.
    keyed = {p for pattern in jit.SOURCES for p in KERNELS.glob(pattern)}
    jitted = {
        p
        for p in KERNELS.rglob("*.py")
        if "__pycache__" not in p.parts and _JITTED.search(p.read_text())
    }
    assert jitted >= {KERNELS / "outcome_levels.py", KERNELS / "interp.py"}  # the scan works
    assert sorted(jitted - keyed) == []


def test_every_opcode_belongs_to_one_family_or_the_interpreter() -> None:
    family = table()
    for op in SPECS:
        own = op in (ops.CONST, ops.SRC, ops.EXT)
        assert own == (op >= len(family) or family[op] < 0), op


def test_the_interpreter_calls_each_family_with_its_compiled_type() -> None:
    # The table holds bare addresses: a call must match the callee's machine-level type.
    load_families()
    for family in FAMILIES:
        compiled = family.block_nb.overloads[FAMILY_SIGNATURE]
        module = compiled.library._get_module_for_linking()
        callee = module.get_function(compiled.fndesc.llvm_func_name).global_value_type
        declared = ir.Module()
        ir.Function(declared, function_type(family.block_nb.targetctx), "call")
        call = binding.parse_assembly(str(declared)).get_function("call").global_value_type
        assert str(call) == str(callee), family.__name__


def test_a_family_missing_from_the_table_raises_instead_of_crashing() -> None:
    graph = Graph()
    node = graph.add(ops.RSI, [graph.src(ops.CLOSE)], [14])
    bars = make_bars(close=np.arange(1.0, 40.0))
    expected = run_graph(graph, [node], bars)
    oscillators = table()[ops.RSI]
    address = family_table._TABLE[oscillators]
    family_table._TABLE[oscillators] = 0
    try:
        with pytest.raises(RuntimeError, match="kernel family is not loaded"):
            run_graph(graph, [node], bars)
    finally:
        family_table._TABLE[oscillators] = address
    np.testing.assert_array_equal(run_graph(graph, [node], bars), expected)


_LOAD_ONLY = """
import sys
import numpy as np
from kernels.outcomes import history_outcomes
from kernels.precompile import ensure_compiled
assert ensure_compiled().cached
high = np.linspace(2.0, 3.0, 60)
history_outcomes(high, high - 0.5, high - 0.2, np.array([20, 30]), ["long", "short"])
print(sorted(m for m in sys.modules if m.startswith(("numba.np.linalg", "numba.typed."))))
"""


def test_a_process_loading_the_kernels_does_not_load_numbas_compiler() -> None:
    ensure_compiled(processes=1)
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_ONLY], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_each_unit_is_compiled_once_and_reported_as_it_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Units "compile" at once (in the forked processes): who takes what is what is checked.
    monkeypatch.setattr(precompile, "_compile_unit", lambda name: name)
    steps: list[str] = []
    names = precompile.units()
    precompile._compile_in_processes(names, 2, steps.append)
    assert sorted(steps) == sorted(names)
    # Each family in one unit: its own, or its group's (SHARED_UNITS).
    families = [f.__name__.rsplit(".", 1)[-1] for f in FAMILIES]
    assert sorted(f for name in names for f in name.split(", ") if f in families) == sorted(
        families
    )
    assert len(names) == len(FAMILIES) + 4 - sum(len(g) - 1 for g in precompile.SHARED_UNITS)


def test_a_failed_compiling_process_fails_the_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_unit(name: str) -> str:
        if "stats" in name.split(", "):
            raise SystemExit(3)
        return name

    monkeypatch.setattr(precompile, "_compile_unit", compile_unit)
    # Alone, the failing unit's process and the other end at once: the pipe closes (nothing
    # more to read) as the exits are seen, in either order.
    for names in (precompile.units(), ["stats"]):
        with pytest.raises(RuntimeError, match="exit 3"):
            precompile._compile_in_processes(names, 2, lambda name: None)


def test_units_are_taken_longest_first_and_each_has_a_figure() -> None:
    names = precompile.units()
    assert set(names) == set(precompile.UNIT_SECONDS)
    seconds = [precompile.UNIT_SECONDS[name] for name in names]
    assert seconds == sorted(seconds, reverse=True)


def test_a_kernel_only_linked_into_others_is_not_machine_code_of_its_own() -> None:
    @jit.loops
    def twice(x: float) -> float:
        return 2.0 * x

    @njit(_nrt=False)
    def caller(x: float) -> float:
        return twice(x) + 1.0

    twice.compile((types.float64,))
    linked = twice.overloads[(types.float64,)]
    engine = linked.library.codegen._engine
    assert not engine.is_symbol_defined(linked.fndesc.llvm_func_name)
    assert caller(3.0) == 7.0
    assert engine.is_symbol_defined(caller.overloads[(types.float64,)].fndesc.llvm_func_name)


def test_every_cached_kernel_is_part_of_a_compiled_unit() -> None:
    # A cached kernel outside the units would be neither compiled up front nor loaded by
    # ensure_loaded: a daemon would load (or compile) it when first called, after ready.
    cached = {}
    for info in pkgutil.walk_packages(kernels.__path__, "kernels."):
        for name, value in vars(importlib.import_module(info.name)).items():
            if isinstance(value, Dispatcher) and isinstance(value._cache, jit._KernelCache):
                cached[id(value)] = f"{info.name}.{name}"
    assert len(cached) >= len(FAMILIES) + 9  # the scan finds them
    units = {id(kernel) for kernel, _ in precompile.kernel_signatures()}
    assert sorted(name for key, name in cached.items() if key not in units) == []


def test_by_default_the_kernels_compile_in_forked_processes_even_on_one_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The calling process (a daemon) then never holds numba's compiler: it only loads.
    forked: list[int] = []
    monkeypatch.setattr(precompile, "is_cached", lambda: False)
    monkeypatch.setattr(precompile, "_cpus", lambda: 1)
    monkeypatch.setattr(
        precompile, "_compile_in_processes", lambda names, workers, report: forked.append(workers)
    )
    monkeypatch.setattr(precompile, "_load", lambda: None)
    report = precompile.ensure_compiled()
    assert forked == [1]
    assert (report.cached, report.processes) == (False, 1)
