"""Streaming node kernels, one module per family.

Array contract (stated once, true of every ``*_nb`` kernel here): a kernel advances one node of
one symbol by one bar. It receives

- ``row``: float64[width], the symbol's node memory (every node's state and output ring);
- ``st``: offset of this node's state block in ``row`` (size given by its :class:`OpSpec`);
- ``c``: the bar index being computed for this symbol (0 for the first bar ever stepped);
- ``inp``: int64[4], the node ids of its inputs (-1 when unused);
- ``roff``/``rdep``: int64[n_nodes], ring offset and ring depth of every node;
- ``p``: float64[4], its parameters;

and returns the node's output for bar ``c``. An input's value ``k`` bars ago is
``row[roff[i] + ((c - k) & (rdep[i] - 1))]``, read through :mod:`kernels.ind.access` (ring depths
are powers of two; the planner makes every ring deep enough for the lags its
consumers read). A NaN input resets a kernel's warm-up: its output equals the reference
implementation applied to each run of valid inputs on its own.
"""
