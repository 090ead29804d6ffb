"""The browser's requests (sans-IO): read-only questions answered with data
(``<type>_result``) instead of ``ack``, served beside the session's other messages.

``trader_draft {words, timeframe?}``, ``trader_check {filter, timeframe?, name?, traderId?,
preview?, cooldownBars?}``, ``chart_data {symbol, traderId? | filter?, timeframe?, time?, bars?}``,
``signal_history {after?: {createdAt, id}, traderId?, symbol?, limit?}`` (docs/protocol.md,
*Requests*). :func:`parse_request` turns one into its typed value or raises
:class:`~vyx.server.fields.ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from kernels.edges import MAX_COOLDOWN_BARS
from vyx.server.fields import ErrorCode, ProtocolError, id_field, int_field, text_field

#: Longest description of a trader in words (characters).
MAX_WORDS_CHARS = 2000
#: Longest filter text (characters).
MAX_FILTER_CHARS = 4000
_MAX_NAME_CHARS = 200
#: Most signals in one ``signal_history`` page (a page's ids go into one PostgREST URL for their
#: analyses: 200 keep it near 8 KB).
MAX_HISTORY_PAGE = 200


@attrs.frozen
class TraderDraft:
    """``trader_draft {words, timeframe?}``: draft a trader from words; answered with
    ``trader_draft_result {ok, draft, problems, rounds, preview}``. Changes nothing."""

    TYPE: ClassVar[str] = "trader_draft"
    words: str
    timeframe: str | None = None
    request_id: str | int | None = None


@attrs.frozen
class TraderCheck:
    """``trader_check {filter, timeframe?, name?, traderId?, preview?, cooldownBars?}``: compile
    a filter as the user types; answered with ``trader_check_result {ok, draft, problems,
    preview}`` (the preview fires at most once per ``cooldownBars``, the machine's when
    absent). Changes nothing (``trader_upsert`` saves)."""

    TYPE: ClassVar[str] = "trader_check"
    filter: str
    timeframe: str | None = None
    name: str | None = None
    #: The trader being edited (it must be one of this machine's).
    trader_id: str | None = None
    preview: bool = False
    #: The trader's own cooldown for the preview (None: the machine's).
    cooldown_bars: int | None = None
    request_id: str | int | None = None


@attrs.frozen
class ChartData:
    """``chart_data {symbol, traderId? | filter?, timeframe?, time?, bars?}``: candles of
    ``symbol`` around ``time`` (a bar's open time, epoch ms) with the indicators of a trader
    (one of this machine's, or a ``filter`` being written); answered with
    ``chart_data_result``."""

    TYPE: ClassVar[str] = "chart_data"
    symbol: str
    trader_id: str | None = None
    filter: str | None = None
    timeframe: str | None = None
    time: int | None = None
    bars: int | None = None
    request_id: str | int | None = None


@attrs.frozen
class SignalHistory:
    """``signal_history {after?: {createdAt, id}, traderId?, symbol?, limit?}``: a page of
    stored signals older than the cursor ``after``; answered with ``signal_history_result``."""

    TYPE: ClassVar[str] = "signal_history"
    after: tuple[int, str] | None = None
    trader_id: str | None = None
    symbol: str | None = None
    limit: int | None = None
    request_id: str | int | None = None


#: Read-only requests answered with data (``<type>_result``), served concurrently with other
#: messages of the session (a few at a time).
Request = TraderDraft | TraderCheck | ChartData | SignalHistory


def _parse_trader_draft(data: Mapping[str, Any], rid: str | int | None) -> TraderDraft:
    words = text_field(data, "words", MAX_WORDS_CHARS, required=True) or ""
    timeframe = text_field(data, "timeframe", 8, required=False)
    return TraderDraft(words=words, timeframe=timeframe, request_id=rid)


def _parse_trader_check(data: Mapping[str, Any], rid: str | int | None) -> TraderCheck:
    text = text_field(data, "filter", MAX_FILTER_CHARS, required=True) or ""
    trader_id = id_field(data, "traderId", "traderId") if "traderId" in data else None
    preview = data.get("preview", False)
    if not isinstance(preview, bool):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "preview must be true or false")
    return TraderCheck(
        filter=text,
        timeframe=text_field(data, "timeframe", 8, required=False),
        name=text_field(data, "name", _MAX_NAME_CHARS, required=False),
        trader_id=trader_id,
        preview=preview,
        cooldown_bars=int_field(data, "cooldownBars", 0, MAX_COOLDOWN_BARS),
        request_id=rid,
    )


def _parse_chart_data(data: Mapping[str, Any], rid: str | int | None) -> ChartData:
    symbol = id_field(data, "symbol", "symbol")
    if len(symbol) > 32:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "symbol: at most 32 characters")
    return ChartData(
        symbol=symbol,
        trader_id=id_field(data, "traderId", "traderId") if "traderId" in data else None,
        filter=text_field(data, "filter", MAX_FILTER_CHARS, required=False),
        timeframe=text_field(data, "timeframe", 8, required=False),
        time=int_field(data, "time", 0, 2**53),
        bars=int_field(data, "bars", 1, 10_000),
        request_id=rid,
    )


def _parse_signal_history(data: Mapping[str, Any], rid: str | int | None) -> SignalHistory:
    after = data.get("after")
    cursor = None
    if after is not None:
        if not isinstance(after, dict):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "after must be {createdAt, id}")
        created = int_field(after, "createdAt", 0, 2**53)
        if created is None:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "after.createdAt is required")
        cursor = (created, id_field(after, "id", "after.id"))
    symbol = text_field(data, "symbol", 32, required=False)
    return SignalHistory(
        after=cursor,
        trader_id=id_field(data, "traderId", "traderId") if "traderId" in data else None,
        symbol=symbol.upper() if symbol else None,
        limit=int_field(data, "limit", 1, MAX_HISTORY_PAGE),
        request_id=rid,
    )


def parse_request(kind: str, data: Mapping[str, Any], rid: str | int | None) -> Request | None:
    """The request of type ``kind`` (None: not a request type).

    Raises:
        ProtocolError: a field of the wrong shape or over its limit.
    """
    match kind:
        case "trader_draft":
            return _parse_trader_draft(data, rid)
        case "trader_check":
            return _parse_trader_check(data, rid)
        case "chart_data":
            return _parse_chart_data(data, rid)
        case "signal_history":
            return _parse_signal_history(data, rid)
    return None
