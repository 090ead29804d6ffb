"""The offline drafter: every documented phrasing compiles and means exactly what the docs say;
what it cannot read, it names with its position."""

from __future__ import annotations

import pytest
import trio

from kernels.lang import check
from vyx.authoring import OfflineDrafter, draft
from vyx.authoring.draft import Problem
from vyx.authoring.phrasebook import draft_offline, draft_words, phrasings

DOCUMENTED = phrasings()


def test_the_documented_list_is_long_and_covers_the_brief() -> None:
    words = {w for w, _, _ in DOCUMENTED}
    assert len(DOCUMENTED) >= 40
    brief = [
        "RSI below 30",
        "RSI above 70",
        "price crosses above the 50 EMA",
        "volume twice its 20-bar average",
        "on the 1h trend up",
        "MACD histogram turns positive",
        "close above upper Bollinger band",
        "RSI below 30 and price above the 200 EMA",
        "on the 15m, RSI below 30 and volume spike",
    ]
    assert words.issuperset(brief)


@pytest.mark.parametrize(("words", "expected", "timeframe"), DOCUMENTED)
def test_each_documented_phrasing_means_what_it_says(
    words: str, expected: str, timeframe: str
) -> None:
    result = draft_words(words)
    assert result.draft is not None, result.problems
    tf = timeframe or "5m"
    assert result.draft.timeframe == tf
    assert result.draft.normalized == check(expected, timeframe=tf).normalized
    assert all(c.explanation for c in result.draft.clauses)
    assert result.draft.origin == "offline"


def test_rsi_below_30_is_exactly_rsi_14_below_30() -> None:
    result = draft_words("RSI below 30")
    assert result.draft is not None
    assert result.draft.normalized == "rsi(14) < 30"
    assert [(c.label, c.explanation) for c in result.draft.clauses] == [
        ("rsi(14) < 30", "RSI(14) is below 30")
    ]


def test_leading_words_case_and_filler_do_not_matter() -> None:
    a = draft_words("Find coins where the RSI is below 30 AND the price is above its 200 EMA")
    b = draft_words("rsi below 30, close above 200 ema")
    assert a.draft is not None
    assert b.draft is not None
    assert a.draft.normalized == b.draft.normalized == "rsi(14) < 30 and close > ema(200)"


def test_what_it_cannot_read_is_named_with_its_position_and_nothing_is_drafted() -> None:
    result = draft_words("RSI below 30 and\ncandle closes green and EMA 20 above EMA 50")
    assert result.draft is None
    assert result.problems == (
        Problem("could not understand 'candle closes green' (see `vyx trader phrases`)", 2, 1),
    )
    either = draft_offline("RSI below 30 or RSI above 70")
    assert either.proposal is None
    assert "'RSI below 30 or RSI above 70'" in either.problems[0].message


def test_empty_and_oversized_words_are_refused_plainly() -> None:
    assert draft_words("  ").problems == (
        Problem("no conditions found: describe at least one, e.g. RSI below 30"),
    )
    assert draft_words("RSI below 30 and " * 200).problems == (
        Problem("at most 2000 characters, please"),
    )


def test_a_timeframe_the_machine_does_not_stream_is_a_problem() -> None:
    result = draft_words("RSI below 30 and on the 4h trend up", allowed_timeframes=["5m", "1h"])
    assert result.draft is None
    problem = Problem(
        "timeframe '4h' is not available here (one of 5m, 1h) (in 'on the 4h trend up')", 1, 18
    )
    assert result.problems == (problem,)


def test_a_volume_spike_in_other_words() -> None:
    for words in ("buy when RSI is oversold and volume spikes", "volume surges and rsi oversold"):
        result = draft_words(words)
        assert result.draft is not None, result.problems
        assert set(result.draft.normalized.split(" and ")) == {
            "rsi(14) < 30",
            "volume > 2 * sma(volume, 20)",
        }


def test_the_long_name_is_cut_at_a_word() -> None:
    result = draft_words("RSI below 30 and price crosses above the 50 EMA and on the 1h trend up")
    assert result.draft is not None
    assert result.draft.name == "RSI below 30 and price crosses above the 50 EMA and on..."


async def test_the_async_api_drafts_offline_by_default() -> None:
    result = await draft("volume spike and RSI below 30", timeframe="15m")
    assert result.draft is not None
    assert result.draft.timeframe == "15m"
    with trio.fail_after(5):
        code_only = await OfflineDrafter().draft("", context="return rsi < 30")
    assert code_only.draft is None
    assert "does not read code" in code_only.problems[0].message
