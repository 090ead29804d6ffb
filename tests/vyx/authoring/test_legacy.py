"""The original product's traders: rows written into its own schema the way its web app wrote
them (jsonb holding a JSON *string*, the legacy ``interval`` key), exported as PostgREST would,
then read and redrafted; rows that cannot be converted are listed with the reason."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from kernels.lang import check
from tests.vyx.analysis.conftest import config
from tests.vyx.analysis.fake_gemini import FakeGemini
from tests.vyx.store.supabase.postgres import postgres_bin, running_postgres
from vyx.authoring import OfflineDrafter, open_gemini_drafter
from vyx.authoring.legacy import (
    ImportFileError,
    LegacyTrader,
    Unreadable,
    convert,
    read_row,
    read_rows,
)

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
RSI_CODE = """const rsi = helpers.getLatestRSI(klines, 14);
const ema = helpers.calculateEMA(klines, 200);
if (!rsi || !ema) return false;
return rsi < 30 && parseFloat(klines[klines.length - 1][4]) > ema;"""


def js(value: object) -> str:
    """A SQL literal of JSON text."""
    return "'" + json.dumps(value).replace("'", "''") + "'"


# The web app wrote jsonb with JSON.stringify: a JSON string inside the jsonb (to_jsonb(text)).
ROWS_SQL = f"""
insert into auth.users (id) values ('{USER}');
insert into public.traders (id, user_id, name, filter, strategy, execution_interval,
                            auto_analyze_signals) values
  ('00000000-0000-4000-8000-000000000001', '{USER}', 'RSI dip', to_jsonb({
    js(
        json.dumps(
            {
                "code": RSI_CODE,
                "description": ["RSI(14) is below 30", "Price is above the 200 EMA"],
                "requiredTimeframes": ["15m"],
                "refreshInterval": "1m",
            }
        )
    )
}::text),
   to_jsonb({js(json.dumps({"instructions": "Only in uptrends."}))}::text), '5m', true),
  ('00000000-0000-4000-8000-000000000002', '{USER}', 'Volume burst', {
    js(
        {
            "code": "return true;",
            "description": ["Volume more than 2x the 20-period average"],
            "interval": "1h",
        }
    )
}::jsonb, '{{}}', null, false),
  ('00000000-0000-4000-8000-000000000003', '{USER}', 'Engulfing', {
    js(
        {
            "code": "return helpers.isBullishEngulfing(klines);",
            "description": ["Bullish engulfing candle near support"],
        }
    )
}::jsonb, '{{}}', '5m', false),
  ('00000000-0000-4000-8000-000000000004', '{USER}', 'Code only', {
    js({"code": "return helpers.getLatestRSI(klines) > 70;"})
}::jsonb, '{{}}', '5m', false),
  ('00000000-0000-4000-8000-000000000005', null, 'MACD turn', {
    js(
        {
            "code": "",
            "description": "MACD histogram turns positive",
            "requiredTimeframes": ["1h", "5m"],
        }
    )
}::jsonb, '{{}}', '5m', false);
"""


@pytest.fixture(scope="module")
def export(shared_data: Path) -> Iterator[str]:
    """``GET /rest/v1/traders`` of a project at the original's state: a JSON array of rows."""
    bindir = postgres_bin()
    if bindir is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    schema = (shared_data / "vyx-original" / "schema.sql").read_text()
    with running_postgres(bindir) as pg:
        pg.psql(schema)
        pg.psql(ROWS_SQL)
        yield pg.psql("select json_agg(t order by t.id) from public.traders t;").stdout


def test_rows_as_the_web_app_stored_them_are_read(export: str) -> None:
    rows = json.loads(export)
    assert isinstance(rows[0]["filter"], str)  # really a JSON string inside the jsonb
    found, unreadable = read_rows(export)
    assert unreadable == []
    by_name = {t.name: t for t in found}
    dip = by_name["RSI dip"]
    assert dip.words == "RSI(14) is below 30 and Price is above the 200 EMA"
    assert dip.code == RSI_CODE
    assert (dip.timeframe, dip.timeframes) == ("15m", ("15m",))
    assert dip.instructions == "Only in uptrends."
    assert dip.auto_analyze
    assert by_name["Volume burst"].timeframe == "1h"  # the legacy interval key
    assert by_name["MACD turn"].timeframes == ("5m", "1h")
    assert by_name["MACD turn"].words == "MACD histogram turns positive"


async def test_offline_conversion_drafts_what_it_can_and_says_why_not(export: str) -> None:
    found, _ = read_rows(export)
    done = {c.legacy.name: c.result for c in await convert(found, OfflineDrafter())}
    dip, burst = done["RSI dip"].draft, done["Volume burst"].draft
    assert dip is not None
    assert burst is not None
    assert dip.timeframe == "15m"
    assert dip.normalized == check("rsi(14) < 30 and close > ema(200)", timeframe="15m").normalized
    assert burst.normalized == "volume > 2 * sma(volume, 20)"
    assert burst.timeframe == "1h"
    engulfing = done["Engulfing"]
    assert engulfing.draft is None
    assert "could not understand 'Bullish engulfing candle near support'" in str(
        engulfing.problems[0]
    )
    assert "does not read code" in done["Code only"].problems[0].message
    macd = done["MACD turn"].draft
    assert macd is not None
    assert macd.normalized == "crosses_above(macd(12, 26, 9).hist, 0)"


def test_rows_that_cannot_be_read_say_why() -> None:
    assert read_row(["not", "a", "row"], 3) == Unreadable("row 3", "not an object")
    assert read_row({"id": "a", "filter": None}, 1) == Unreadable("a", "no filter")
    assert read_row({"id": "b", "filter": "[1, 2]"}, 1) == Unreadable(
        "b", "filter is a list, not an object"
    )
    assert read_row({"id": "c", "filter": {"code": ""}}, 1) == Unreadable(
        "c", "neither a description nor code to draft from"
    )
    long = read_row({"id": "d", "filter": {"description": ["RSI below 30"] * 300}}, 1)
    assert long == Unreadable("d", "description longer than 2000 characters")
    twice = json.dumps(json.dumps({"description": ["RSI below 30"], "interval": "4h"}))
    read = read_row({"id": "e", "name": "twice", "filter": twice}, 1)
    assert isinstance(read, LegacyTrader)
    assert (read.words, read.timeframe) == ("RSI below 30", "4h")


def test_files_that_are_not_exports_are_refused() -> None:
    with pytest.raises(ImportFileError, match="not JSON"):
        read_rows("id,name\n1,x")
    with pytest.raises(ImportFileError, match="array of trader rows"):
        read_rows("42")
    with pytest.raises(ImportFileError, match="at most 1000"):
        read_rows(json.dumps([{}] * 1001))
    one, _ = read_rows(json.dumps({"traders": [{"id": "x", "filter": {"code": "x"}}]}))
    assert [t.id for t in one] == ["x"]


async def test_with_a_model_the_code_is_context_and_the_compiler_still_decides(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    stored = json.dumps({"code": RSI_CODE, "requiredTimeframes": ["15m", "4h"]})
    legacy = read_row({"id": "t1", "name": "Overbought", "filter": stored}, 1)
    assert isinstance(legacy, LegacyTrader)
    fake.script.extend(["text", "text"])
    for source in ("getLatestRSI(14) < 30", "rsi(14) < 30 and close > ema(close, 200)"):
        answer = {"name": "RSI dip", "timeframe": "15m", "filter": source, "clauses": []}
        fake.texts.append(json.dumps(answer))
    async with open_gemini_drafter(config(), http=fake.client()) as drafter:
        (done,) = await convert([legacy], drafter)
    assert done.result.draft is not None
    assert done.result.draft.timeframe == "15m"
    request = fake.turns(0)[0][1]
    assert "no description: work from the context below" in request
    assert "helpers.getLatestRSI(klines, 14)" in request
    assert "it read the timeframes 15m, 4h" in request
    assert "Default timeframe (unless the words say another): 15m." in request
    assert fake.turns(1)[-1][1].count("unknown function 'getLatestRSI'") == 1
