"""Compiling the kernels up front, and their cache keys."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernels import interp, jit, ops, precompile
from kernels.families import FAMILIES, table
from kernels.fired import scan_nb
from kernels.interp import run_nb
from kernels.precompile import INTERP_SIGNATURE, SCAN_SIGNATURE, ensure_compiled, is_cached
from kernels.specs import SPECS

KERNELS = Path(jit.__file__).resolve().parent


def test_after_ensure_compiled_the_kernels_come_from_the_cache() -> None:
    steps: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, what: str) -> None:
        steps.append((done, total, what))

    report = ensure_compiled(progress, processes=1)
    assert is_cached()
    assert steps[-1][0] == steps[-1][1]
    assert len(steps) == (1 if report.cached else len(FAMILIES) + 3)
    assert INTERP_SIGNATURE in run_nb.signatures
    assert SCAN_SIGNATURE in scan_nb.signatures
    assert ensure_compiled().cached


def test_a_change_to_any_kernel_source_changes_every_cache_key(tmp_path: Path) -> None:
    copy = tmp_path / "kernels"
    shutil.copytree(KERNELS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert jit.sources_digest(copy) == jit.sources_digest()
    kernel = copy / "ind" / "averages.py"
    kernel.write_text(kernel.read_text() + "\n# an edit\n")
    assert jit.sources_digest(copy) != jit.sources_digest()


def test_every_opcode_belongs_to_one_family_or_the_interpreter() -> None:
    family = table()
    for op in SPECS:
        own = op in (ops.CONST, ops.SRC, ops.EXT)
        assert own == (op >= len(family) or family[op] < 0), op


def test_the_interpreter_calls_the_families_in_their_order() -> None:
    source = inspect.getsource(interp._family)
    called = re.findall(r"(\w+)\.block_nb\(", source)
    assert called == [f.__name__.rsplit(".", 1)[-1] for f in FAMILIES]


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


def test_the_interpreter_compiles_once_every_family_has(monkeypatch: pytest.MonkeyPatch) -> None:
    # Units "compile" at once (here and in the forked process): the order is what is checked.
    monkeypatch.setattr(precompile, "_compile_unit", precompile._unit_name)
    monkeypatch.setattr(precompile, "_compile_interpreter", lambda report: report("interpreter"))
    units = [*range(len(FAMILIES)), -1, -2]
    steps: list[str] = []
    precompile._compile_all(units, 1, steps.append)
    assert sorted(steps) == sorted([*map(precompile._unit_name, units), "interpreter"])
    families = {precompile._unit_name(i) for i in range(len(FAMILIES))}
    assert families <= set(steps[: steps.index("interpreter")])
