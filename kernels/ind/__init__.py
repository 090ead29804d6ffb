"""Node kernels, one module per family.

Array contract (stated once, true of every ``*_nb`` kernel here): a kernel steps one node of
one symbol through consecutive bars ``c0 .. c1 - 1``. It receives

- ``row``: float64[width], the symbol's node memory (every node's state and output ring);
- ``st``: offset of this node's state block in ``row`` (size given by its :class:`OpSpec`);
- ``c0``, ``c1``: the bars to compute (``c0`` is 0 for the first bar ever stepped);
- ``inp``: int64[4], the node ids of its inputs (-1 when unused);
- ``roff``/``rdep``: int64[n_nodes], ring offset and ring depth of every node;
- ``p``: float64[4], its parameters;
- ``oj``, ``mj``: its own ring's offset and ``depth - 1``;

and writes its output for bar ``c`` to ``row[oj + (c & mj)]``. An input's value ``k`` bars ago
is ``row[offset + ((c - k) & mask)]`` with ``offset, mask = roff[i], rdep[i] - 1`` (ring
depths are powers of two, so the slot of bar ``c`` is ``c & mask``, not a 64-bit modulo;
every ring is deep enough for the lags its consumers read plus the bars of a block). A kernel
loads its state into local variables once, loops over the bars (the state stays in
registers) and stores it back: the live screener calls it for one bar, backtests for a block
of bars, with the same arithmetic.
A NaN input resets a kernel's warm-up: its output equals the reference implementation
applied to each run of valid inputs on its own.

A **family** module also has ``OPCODES`` and ``block_nb(o, mem, items, st, inp, roff, rdep, p,
oj, mj, tmp)``, which steps a node of opcode ``o`` through every work item (``items[w, 0]``: a
row of ``mem``; ``items[w, 1]``, ``items[w, 2]``: its ``c0``, ``c1``). ``tmp`` is scratch
memory a kernel may use within one call (float64[:], each thread its own; empty in the live
screener, at least four floats per bar of the largest item in column mode: a kernel checks its
size and computes without it when it is short). Adding an opcode: its
constant in :mod:`kernels.ops`, its kernel and :class:`~kernels.ops.OpSpec` in its family's
module, and one ``elif`` in that family's ``block_nb``. A new family is one more entry in
:data:`kernels.families.FAMILIES` (and its compile figure in
:data:`kernels.precompile.UNIT_SECONDS`).
"""
