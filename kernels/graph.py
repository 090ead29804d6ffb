"""Plan graphs: one hash-consed DAG of nodes per timeframe, and its memory layout.

Nodes are identified by ``(op, inputs, params)``; adding a node that exists returns the existing
id, so a subexpression used by several traders is computed once per symbol. A :class:`Layout`
freezes a graph into the arrays :func:`kernels.interp.run_nb` executes: state offsets, output
ring depths (as deep as the deepest lag any consumer reads) and each node's warm-up in bars.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from kernels import ops
from kernels.specs import SPECS

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

MAX_INPUTS = 4
MAX_PARAMS = 4


class PlanError(Exception):
    """A node that cannot be built (unknown op, wrong arity, bad parameters)."""


@attrs.frozen
class NodeKey:
    """Identity of a node: equal keys are the same computation."""

    op: int
    inputs: tuple[int, ...] = ()
    params: tuple[float, ...] = ()


class Graph:
    """A growing DAG of nodes of one timeframe, in topological (insertion) order."""

    def __init__(self) -> None:
        self.nodes: list[NodeKey] = []
        self._index: dict[NodeKey, int] = {}
        #: Extra ring depth asked for a node by readers outside the graph (explanations).
        self.pinned_depth: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, op: int, inputs: Sequence[int] = (), params: Sequence[float] = ()) -> int:
        """The id of node ``(op, inputs, params)``, creating it if new."""
        spec = SPECS.get(op)
        if spec is None:
            raise PlanError(f"unknown opcode {op}")
        if len(inputs) != spec.arity:
            raise PlanError(f"{spec.name} takes {spec.arity} inputs, got {len(inputs)}")
        if len(params) > MAX_PARAMS:
            raise PlanError(f"{spec.name}: at most {MAX_PARAMS} parameters")
        for i in inputs:
            if not 0 <= i < len(self.nodes):
                raise PlanError(f"{spec.name}: input {i} is not an existing node")
        key = NodeKey(op, tuple(int(i) for i in inputs), tuple(float(p) for p in params))
        found = self._index.get(key)
        if found is not None:
            return found
        self.nodes.append(key)
        self._index[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def find(self, key: NodeKey) -> int | None:
        """The id of ``key`` if the graph has it."""
        return self._index.get(key)

    def src(self, field: int) -> int:
        """A bar field node (``ops.OPEN`` ... ``ops.OPEN_TIME``)."""
        return self.add(ops.SRC, (), (field,))

    def const(self, value: float) -> int:
        """A constant node."""
        return self.add(ops.CONST, (), (value,))

    def closure(self, roots: Iterable[int]) -> set[int]:
        """Node ids ``roots`` depend on, roots included."""
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            stack.extend(self.nodes[j].inputs)
        return seen


@attrs.frozen(eq=False)
class Layout:
    """The executable form of a graph (arrays as :func:`kernels.interp.run_nb` wants them)."""

    keys: tuple[NodeKey, ...]
    op: I64
    ins: I64
    prm: F64
    soff: I64
    ssize: I64
    roff: I64
    rdep: I64
    #: Bars from a symbol's first bar until each node's output is valid and stable.
    warm: I64
    width: int

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.keys)

    def index(self) -> dict[NodeKey, int]:
        """Node id by key."""
        return {k: i for i, k in enumerate(self.keys)}


def layout(graph: Graph) -> Layout:
    """Freeze ``graph`` into arrays: ring depths from consumers' lags, offsets, warm-ups."""
    n = len(graph.nodes)
    op = np.zeros(n, dtype=np.int64)
    ins = np.full((n, MAX_INPUTS), -1, dtype=np.int64)
    prm = np.zeros((n, MAX_PARAMS), dtype=np.float64)
    ssize = np.zeros(n, dtype=np.int64)
    rdep = np.ones(n, dtype=np.int64)
    warm = np.zeros(n, dtype=np.int64)
    for j, key in enumerate(graph.nodes):
        spec = SPECS[key.op]
        op[j] = key.op
        ins[j, : len(key.inputs)] = key.inputs
        prm[j, : len(key.params)] = key.params
        ssize[j] = spec.state(key.params)
        depths = spec.depths(key.params)
        for i, d in zip(key.inputs, depths, strict=True):
            rdep[i] = max(rdep[i], d)
        before = max((int(warm[i]) for i in key.inputs), default=0)
        warm[j] = before + spec.warmup(key.params)
    for j, d in graph.pinned_depth.items():
        rdep[j] = max(rdep[j], d)
    # Powers of two: the interpreter finds ring slots with a mask instead of a modulo.
    rdep = (1 << np.ceil(np.log2(rdep)).astype(np.int64)).astype(np.int64)
    soff = np.zeros(n, dtype=np.int64)
    roff = np.zeros(n, dtype=np.int64)
    pos = 0
    for j in range(n):
        soff[j] = pos
        pos += int(ssize[j])
        roff[j] = pos
        pos += int(rdep[j])
    return Layout(tuple(graph.nodes), op, ins, prm, soff, ssize, roff, rdep, warm, max(pos, 1))
