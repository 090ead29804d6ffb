"""A split job handed from its caller's interpreter call to helper threads, inside the kernel.

A helper thread (:class:`kernels.threads.Crew`) makes one interpreter call when it starts and
stays in it, without the GIL, until the crew stops: it sleeps on a futex between jobs, and a
caller's own interpreter call posts each job to it from inside the kernel. So a helper never
goes back to Python between jobs (no GIL to take back, no dispatch, no arguments to build),
and it starts a job a few microseconds after the caller's call, not tens.

The crew's words (``ctl``, one ``int64`` array, :data:`CTL_WORDS`; the hot ones each on a
cache line of their own):

- :data:`POST` the number of the job posted last, :data:`STOPPED` set when helpers must
  return, :data:`SLEEPERS` helpers asleep on :data:`SEQ` (bumped, and its sleepers woken, to
  post a job or wake helpers ahead of one);
- :data:`WORD` the job's pieces taken: the job's generation (bits 40-62), pieces taken from
  the back (bits 20-39, by helpers) and from the front (bits 0-19, by the caller);
- :data:`DONE` pieces helpers stepped; :data:`WAITING`/:data:`BELL` the caller asleep
  waiting for them; :data:`FAILED` a helper's call raised;
- the job: :data:`PIECE` slots a piece, :data:`LO`/:data:`HI`/:data:`COMMIT` and, from
  :data:`ARRAYS`, the address and shape of each array of the caller's call
  (:func:`kernels.atomics.put_array`), :data:`WAIT` the caller's spins for late pieces,
  :data:`HELPERS` the helpers that may take part.

How a job stays safe: the caller writes the job's words, then resets :data:`WORD` to the new
generation with no piece taken, then posts. A helper reads the job's words only after it saw
that generation in :data:`WORD`, and takes a piece only by a compare-and-swap of :data:`WORD`
that also checks the generation: so a piece it takes belongs to the job whose words it read,
and that job's caller is still in its call (it returns only once every piece a helper took is
done), keeping the arrays alive. A helper woken for a job that is over (its CPU was busy)
finds no piece and sleeps again. The caller takes pieces with an atomic add from the front;
once none is left the back's count is final, and it waits (spinning, then asleep on
:data:`BELL`) until helpers have done that many.
"""

from __future__ import annotations

from typing import Any

from numba import types

from kernels.atomics import (
    fetch_add,
    futex_wait,
    futex_wake,
    load,
    pause,
    put_array,
    store,
)
from kernels.jit import entry, loops, overload_loops

#: Words of a crew's ``ctl`` (see the module docstring).
POST, STOPPED, SLEEPERS, HELPERS = 0, 1, 2, 3
SEQ = 8
WORD = 16
DONE = 24
BELL, WAITING, FAILED = 32, 33, 34
PIECE, LO, HI, COMMIT, WAIT = 40, 41, 42, 43, 44
#: The caller's arrays (``op`` ... ``work``, :func:`post_job`), four words each.
ARRAYS = 48
N_ARRAYS = 14
CTL_WORDS = ARRAYS + 4 * N_ARRAYS
#: Where :func:`post_job` puts the caller's ``scratch`` and ``work`` (a helper steps in
#: workspaces of its own of the same shapes).
SCRATCH_AT, WORK_AT = ARRAYS + 4 * 12, ARRAYS + 4 * 13

#: Words of a helper's own ``claims`` (its interpreter call's last argument): the crew's
#: ``ctl`` (address, length), its workspace (address and shape, then capacity, of ``scratch``
#: and ``work``), its spins after a wake-up, whether it holds a piece, its index in the crew,
#: pieces it stepped.
H_CTL, H_SCRATCH, H_WORK, H_SPINS, H_HOLDING, H_INDEX, H_STEPPED = 0, 2, 6, 10, 11, 12, 13
HELPER_WORDS = 14

#: :data:`WORD`'s fields: one piece from the front, one from the back, one generation.
FRONT, BACK, GEN = 1, 1 << 20, 1 << 40
FIELD = (1 << 20) - 1
GENS = (1 << 23) - 1
#: Pieces a job may have (more would overflow a field of :data:`WORD`).
MAX_PIECES = 1 << 19
_ALL = 1 << 30


def front_taken(word: int) -> int:
    """Pieces the caller took (plus its tries that found none), from :data:`WORD`."""
    return word & FIELD


def back_taken(word: int) -> int:
    """Pieces helpers took, from :data:`WORD`."""
    return (word >> 20) & FIELD


def contiguous(plan: Any, job: Any) -> bool:
    """Are the arrays of the interpreter's ``plan`` and ``job`` (numba types) all
    C-contiguous: can a helper read them at their addresses (:func:`post`)?"""
    arrays = [t for t in (*plan.types, *job.types) if isinstance(t, types.Array)]
    return all(t.layout == "C" for t in arrays)


def post(ctl, plan, job, lo, hi):
    """Post the caller's call (:func:`kernels.interp._steps`'s ``plan`` and ``job``,
    ``lo..hi-1``) as the crew's next job; returns its pieces. Raises ``ValueError`` in an
    interpreter compiled for arrays that are not all C-contiguous (no crew's caller)."""


@overload_loops(post)
def _post_typed(ctl, plan, job, lo, hi):
    if not contiguous(plan, job):

        def refuse(ctl, plan, job, lo, hi):
            raise ValueError("a job shared with helpers takes C-contiguous arrays")
            return 0

        return refuse
    return _post


def _post(ctl, plan, job, lo, hi):
    """:func:`post`, for C-contiguous arrays."""
    op, ins, prm, soff, roff, rdep = plan
    mem, count, bars, ext, commit, out_nodes, out, scratch, work = job
    put_array(ctl, ARRAYS, op)
    put_array(ctl, ARRAYS + 4, ins)
    put_array(ctl, ARRAYS + 8, prm)
    put_array(ctl, ARRAYS + 12, soff)
    put_array(ctl, ARRAYS + 16, roff)
    put_array(ctl, ARRAYS + 20, rdep)
    put_array(ctl, ARRAYS + 24, mem)
    put_array(ctl, ARRAYS + 28, count)
    put_array(ctl, ARRAYS + 32, bars)
    put_array(ctl, ARRAYS + 36, ext)
    put_array(ctl, ARRAYS + 40, out_nodes)
    put_array(ctl, ARRAYS + 44, out)
    put_array(ctl, SCRATCH_AT, scratch)
    put_array(ctl, WORK_AT, work)
    ctl[LO], ctl[HI], ctl[COMMIT] = lo, hi, 1 if commit else 0
    size = max(1, ctl[PIECE])
    posted = load(ctl, POST) + 1
    store(ctl, DONE, 0)
    store(ctl, WORD, (posted & GENS) * GEN)
    store(ctl, POST, posted)
    fetch_add(ctl, SEQ, 1)
    if load(ctl, SLEEPERS) > 0:
        futex_wake(ctl, SEQ, _ALL)
    return (hi - lo + size - 1) // size


@loops
def wait_helpers(ctl):
    """The caller, once no piece is left: spins, then sleeps, until helpers have stepped
    every piece they took."""
    taken = (load(ctl, WORD) >> 20) & FIELD
    for _ in range(ctl[WAIT]):
        if load(ctl, DONE) >= taken:
            return
        pause()
    store(ctl, WAITING, 1)
    while True:
        bell = load(ctl, BELL)
        if load(ctl, DONE) >= taken:
            break
        futex_wait(ctl, BELL, bell)
    store(ctl, WAITING, 0)


@loops
def await_post(ctl, seen, spins):
    """A helper's wait for a job posted after ``seen``: returns its number, or -1 once
    the crew stops. Spins ``spins`` times after each wake-up, then sleeps on :data:`SEQ`."""
    budget = 0
    while True:
        for _ in range(budget):
            if load(ctl, POST) != seen or load(ctl, STOPPED) != 0:
                break
            pause()
        fetch_add(ctl, SLEEPERS, 1)
        seq = load(ctl, SEQ)
        posted = -1 if load(ctl, STOPPED) != 0 else load(ctl, POST)
        if posted == seen:
            futex_wait(ctl, SEQ, seq)
        fetch_add(ctl, SLEEPERS, -1)
        if posted != seen:
            return posted
        budget = spins


@entry
def settle_nb(ctl: Any) -> None:
    """After the caller's call failed: no piece is left to take, and it returns once
    helpers have stepped those they took (their writes then end before the job's arrays
    may be freed)."""
    fetch_add(ctl, WORD, MAX_PIECES * FRONT)
    wait_helpers(ctl)
