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


def ring_size(depth: int) -> int:
    """Ring slots kept for a required ring depth: the next power of two (the interpreter finds
    ring slots with a mask instead of a modulo)."""
    return 1 << (max(depth, 1) - 1).bit_length()


@attrs.frozen
class Mark:
    """A point in a graph's history that :meth:`Graph.rollback` returns to."""

    nodes: int
    log: int
    state: int
    rings: int
    work: int


class Graph:
    """A growing DAG of nodes of one timeframe, in topological (insertion) order.

    It keeps what its layout will cost as nodes are added (each node's warm-up and ring depth,
    the total width and work per bar), so a budget can be checked after every step of a
    lowering, and a lowering that went over budget can be rolled back (:meth:`mark`).
    """

    def __init__(self) -> None:
        self.nodes: list[NodeKey] = []
        self._index: dict[NodeKey, int] = {}
        #: Extra ring depth asked for a node by readers outside the graph (explanations).
        self.pinned_depth: dict[int, int] = {}
        #: Per node: bars from a symbol's first bar until its output is valid and stable.
        self.warm: list[int] = []
        #: Per node: ring depth its consumers (and pins) need, before rounding.
        self.ring: list[int] = []
        #: Floats of state, and of output rings, per symbol; work per bar and symbol.
        self.state_floats = 0
        self.ring_floats = 0
        self.work = 0
        # (node, previous ring depth, previous pin or -1) of every deepening, for rollback.
        self._log: list[tuple[int, int, int]] = []

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def width(self) -> int:
        """Floats per symbol of this graph's layout (state and rings)."""
        return self.state_floats + self.ring_floats

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
        for i, d in zip(key.inputs, spec.depths(key.params), strict=True):
            if d > self.ring[i]:
                self._deepen(i, d, self.pinned_depth.get(i, -1))
        self.nodes.append(key)
        self._index[key] = len(self.nodes) - 1
        before = max((self.warm[i] for i in key.inputs), default=0)
        self.warm.append(before + spec.warmup(key.params))
        self.ring.append(1)
        self.state_floats += spec.state(key.params)
        self.ring_floats += 1
        self.work += spec.cost(key.params)
        return len(self.nodes) - 1

    def _deepen(self, node: int, depth: int, pinned: int) -> None:
        """Make ``node``'s ring at least ``depth`` deep (``pinned``: its pin, logged for
        rollback)."""
        old = self.ring[node]
        self._log.append((node, old, pinned))
        if depth > old:
            self.ring[node] = depth
            self.ring_floats += ring_size(depth) - ring_size(old)

    def pin(self, node: int, depth: int) -> None:
        """Keep at least ``depth`` past values of ``node`` (read from outside the graph)."""
        pinned = self.pinned_depth.get(node, -1)
        if depth > pinned:
            self._deepen(node, depth, pinned)
            self.pinned_depth[node] = depth

    def copy(self) -> Graph:
        """An independent copy (adding to either leaves the other as it is)."""
        other = Graph()
        other.nodes = self.nodes.copy()
        other._index = self._index.copy()
        other.pinned_depth = self.pinned_depth.copy()
        other.warm = self.warm.copy()
        other.ring = self.ring.copy()
        other.state_floats, other.ring_floats = self.state_floats, self.ring_floats
        other.work = self.work
        other._log = self._log.copy()
        return other

    def mark(self) -> Mark:
        """The graph as it is now, for :meth:`rollback`."""
        return Mark(len(self.nodes), len(self._log), self.state_floats, self.ring_floats, self.work)

    def rollback(self, mark: Mark) -> None:
        """Forget every node added and every ring deepened since ``mark``."""
        while len(self._log) > mark.log:
            node, depth, pinned = self._log.pop()
            if node < mark.nodes:
                self.ring[node] = depth
                if pinned < 0:
                    self.pinned_depth.pop(node, None)
                else:
                    self.pinned_depth[node] = pinned
        for key in self.nodes[mark.nodes :]:
            del self._index[key]
        for node in range(mark.nodes, len(self.nodes)):
            self.pinned_depth.pop(node, None)
        del self.nodes[mark.nodes :], self.warm[mark.nodes :], self.ring[mark.nodes :]
        self.state_floats, self.ring_floats, self.work = mark.state, mark.rings, mark.work

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

    @property
    def program(self) -> tuple[I64, I64, F64, I64, I64, I64]:
        """The graph's arrays, as :func:`kernels.interp.run_nb` takes them first."""
        return self.op, self.ins, self.prm, self.soff, self.roff, self.rdep

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
    for j, key in enumerate(graph.nodes):
        op[j] = key.op
        ins[j, : len(key.inputs)] = key.inputs
        prm[j, : len(key.params)] = key.params
        ssize[j] = SPECS[key.op].state(key.params)
    depth = list(graph.ring)
    for j, d in graph.pinned_depth.items():
        depth[j] = max(depth[j], d)
    rdep = np.fromiter((ring_size(d) for d in depth), dtype=np.int64, count=n)
    warm = np.asarray(graph.warm, dtype=np.int64).reshape(n)
    return _offsets(tuple(graph.nodes), op, ins, prm, ssize, rdep, warm)


def _offsets(
    keys: tuple[NodeKey, ...], op: I64, ins: I64, prm: F64, ssize: I64, rdep: I64, warm: I64
) -> Layout:
    """The layout of nodes given their state sizes and ring depths: each node's state block,
    then its ring, one after the other."""
    sizes = ssize + rdep
    end = np.cumsum(sizes)
    soff = (end - sizes).astype(np.int64)
    roff = (soff + ssize).astype(np.int64)
    width = int(end[-1]) if len(end) else 0
    return Layout(keys, op, ins, prm, soff, ssize, roff, rdep, warm, max(width, 1))


def with_rings(lay: Layout, rdep: I64) -> Layout:
    """``lay`` with ring depths ``rdep``: the same nodes, laid out one after the other again."""
    return _offsets(lay.keys, lay.op, lay.ins, lay.prm, lay.ssize, rdep, lay.warm)


def spans(starts: I64, sizes: I64) -> I64:
    """The indices ``start .. start + size - 1`` of every span, one span after the other."""
    sizes = np.asarray(sizes, dtype=np.int64)
    ends = np.cumsum(sizes)
    return np.repeat(np.asarray(starts, dtype=np.int64) - (ends - sizes), sizes) + np.arange(
        int(ends[-1]) if len(ends) else 0
    )


def sub_layout(full: Layout, nodes: Iterable[int]) -> tuple[Layout, I64]:
    """The layout of some nodes of ``full`` and every node they read (ring depths as in
    ``full``, so the same bar sits in the same ring slot), and the ids of its nodes in
    ``full`` (ascending: the order stays topological)."""
    keep: set[int] = set()
    stack = list(nodes)
    while stack:
        j = stack.pop()
        if j not in keep:
            keep.add(j)
            stack.extend(int(i) for i in full.ins[j] if i >= 0)
    ids = np.asarray(sorted(keep), dtype=np.int64)
    remap = np.full(full.n_nodes + 1, -1, dtype=np.int64)  # index -1 maps to -1
    remap[ids] = np.arange(len(ids))
    ins = remap[full.ins[ids]]
    keys = tuple(
        attrs.evolve(full.keys[j], inputs=tuple(int(remap[i]) for i in full.keys[j].inputs))
        for j in ids.tolist()
    )
    sub = _offsets(
        keys, full.op[ids], ins, full.prm[ids], full.ssize[ids], full.rdep[ids], full.warm[ids]
    )
    return sub, ids
