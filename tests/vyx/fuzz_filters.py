"""Filters a hostile or careless user might send: random ones from the catalog, mutations of
them, and pathological ones (deep nesting of every indicator, wide conjunctions, huge lookbacks,
``on()`` everywhere, texts as large as a frame allows). Seeded: a failure can be replayed."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

from kernels.lang.catalog import FUNCTIONS, SERIES
from kernels.lang.signatures import FunctionSpec

NUMBER_FUNCTIONS = [s for s in FUNCTIONS.values() if s.result == "number"]
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
COMPARE = ("<", "<=", ">", ">=", "==", "!=")
#: Filters of the issue's findings, as they were reported.
FINDINGS = [
    "zscore(" * 18 + "close" + ")" * 18 + " > 0",
    "sma(" + "," * 10000 + ") > 0",
    " and ".join(f"sma(close+{k},1000)>0" for k in range(359)),
    "tema(" * 6 + "close, 1000)" + ", 1000)" * 5 + " > 0",
    " and ".join(f"close > {k}" for k in range(600)),
    'on("4h", close > open)',
]


def _param(rng: random.Random, spec: FunctionSpec, huge: bool) -> list[str]:
    out = []
    for p in spec.params:
        if huge and rng.random() < 0.5:
            value = rng.choice([p.max, p.max * 10, 10**9, -1, 0.5])
        elif p.kind == "int":
            value = rng.randint(int(p.min), min(int(p.max), 60))
        else:
            value = round(rng.uniform(p.min, min(p.max, 5.0)), 3)
        out.append(repr(value) if isinstance(value, float) else str(value))
    return out


def number(rng: random.Random, depth: int, huge: bool = False) -> str:
    """A number expression nesting about ``depth`` levels."""
    roll = rng.random()
    if depth <= 0 or roll < 0.25:
        return rng.choice([*SERIES, str(rng.randint(0, 100)), f"{rng.random():.3f}"])
    if roll < 0.35:
        lag = rng.choice([1, 2, 10, 1000, 2000]) if huge else rng.randint(1, 20)
        return f"{rng.choice(SERIES)}[{lag}]"
    if roll < 0.5:
        op = rng.choice("+-*/")
        return f"({number(rng, depth - 1, huge)} {op} {number(rng, depth - 1, huge)})"
    spec = rng.choice(NUMBER_FUNCTIONS)
    # Nesting stays subcritical with the catalog's many four-input functions (the candlestick
    # patterns): each node has fewer than one nested call on average.
    nest = 0.6 if len(spec.inputs) <= 2 else 0.3
    args = [number(rng, depth - 1, huge) for _ in spec.inputs] if rng.random() < nest else []
    text = f"{spec.name}({', '.join([*args, *_param(rng, spec, huge)])})"
    if spec.outputs:
        text += "." + rng.choice(spec.outputs)
    return text


def condition(rng: random.Random, depth: int, huge: bool = False) -> str:
    """A boolean expression."""
    roll = rng.random()
    if roll < 0.1:
        return f"crosses_above({number(rng, depth, huge)}, {number(rng, depth, huge)})"
    if roll < 0.15:
        return f"rising({number(rng, depth, huge)}, {rng.randint(1, 10)})"
    if roll < 0.25:
        return f"not ({condition(rng, depth - 1, huge)})" if depth > 0 else "close > open"
    if roll < 0.35:
        inner = f"{number(rng, depth, huge)} {rng.choice(COMPARE)} {number(rng, depth, huge)}"
        return f'on("{rng.choice(TIMEFRAMES)}", {inner})'
    return f"{number(rng, depth, huge)} {rng.choice(COMPARE)} {number(rng, depth, huge)}"


#: Longest text generated (far over the language's limit, which the daemon checks first).
MAX_TEXT = 200_000


def random_filter(rng: random.Random) -> str:
    """A filter built from the catalog: mostly valid, sometimes over a limit."""
    huge = rng.random() < 0.2
    width = rng.choice([1, 1, 2, 3, 5, 20]) if rng.random() < 0.95 else rng.randint(100, 3000)
    depth = rng.choice([0, 1, 2, 3]) if rng.random() < 0.9 else rng.randint(5, 40)
    glue = " and " if rng.random() < 0.8 else " or "
    text = glue.join(condition(rng, depth, huge) for _ in range(width))
    return text[:MAX_TEXT]


def mutate(rng: random.Random, text: str) -> str:
    """``text`` with a few random edits (insert, delete, replace, duplicate)."""
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(chars) + 1)
        kind = rng.random()
        if kind < 0.3:
            chars[at:at] = rng.choice([*"(),.[]<>=!-+*/\"' \n\t\0", "on(", "and", "1e309"])
        elif kind < 0.55 and chars:
            del chars[at : at + rng.randint(1, 5)]
        elif kind < 0.8 and chars:
            chars[min(at, len(chars) - 1)] = rng.choice(string.printable + "é€\ud800")
        else:
            chars[at:at] = chars[at : at + rng.randint(1, 40)] * rng.randint(1, 50)
    return "".join(chars)


def pathological(rng: random.Random) -> Iterator[str]:
    """Deep nesting of every indicator, wide conjunctions, huge lookbacks, on() everywhere,
    frame-sized texts, and the findings' filters."""
    yield from FINDINGS
    for spec in NUMBER_FUNCTIONS:
        depth = rng.choice([20, 70, 200])
        field = "." + spec.outputs[0] if spec.outputs else ""
        yield f"{spec.name}(" * depth + "close" + f"){field}" * depth + " > 0"
    yield " and ".join(["close > open"] * 5000)
    yield " or ".join(f"rsi({k % 998 + 2}) < 30" for k in range(3000))
    yield "close[1000][1000] > close"
    yield "sma(close, 1000000) > 0"
    yield "sma(" * 3 + "close, 1000)" + ", 1000)" * 2 + " > 0"
    yield " and ".join(f'on("{tf}", close > open)' for tf in TIMEFRAMES * 50)
    yield 'on("1h", on("4h", close > open))'
    yield "(" * 30000 + "close > open" + ")" * 30000
    yield "-" * 60000 + "close > 0"
    yield "close > " + "9" * 60000
    yield "x" * 60000
    yield "".join(rng.choice(string.printable) for _ in range(60000))
    yield "é" * 20000
    yield "\0" * 1000 + "close > open"


def filters(seed: int, count: int) -> Iterator[str]:
    """``count`` filters: the pathological ones first, then random and mutated ones."""
    rng = random.Random(seed)
    produced = 0
    for text in pathological(rng):
        if produced == count:
            return
        yield text
        produced += 1
    while produced < count:
        text = random_filter(rng)
        yield mutate(rng, text) if rng.random() < 0.4 else text
        produced += 1
