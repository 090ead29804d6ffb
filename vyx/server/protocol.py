"""The browser WebSocket protocol, versions 1 and 2: parsing and building messages (sans-IO).

Every message is a JSON object ``{"type": ..., "data": {...}}`` (CONTRACTS.md). This module turns
a received frame into a typed value (:func:`parse_client_message`) or raises
:class:`ProtocolError` with the ``code`` the ``error`` reply carries, and builds the messages the
machine sends. It does no I/O; ``vyx.server.session`` is the shell around it.

Browser -> machine: ``auth {token}`` (first message, when no ``access_token`` query parameter),
``ping``, ``config_update {traders?, version}``, ``pause_execution``, ``resume_execution``,
``force_sync``, ``trader_upsert {trader}``, ``trader_remove {traderId}``, ``mute {symbol? |
traderId?, muted?}``, and the requests
``trader_draft {words, timeframe?}`` and ``trader_check {filter, timeframe?, name?, traderId?,
preview?}``, ``chart_data {symbol, traderId? | filter?, timeframe?, time?, bars?}``,
``signal_history {after?, traderId?, symbol?, limit?}`` (answered with ``<type>_result`` instead
of ``ack``).
Any of them may carry ``data.requestId`` (string or integer), echoed in the reply.

Machine -> browser: ``hello`` (first, once authenticated), ``snapshot``, ``status_update``,
``metrics_update``, ``signal_created`` (``signals_created``), ``analysis_completed``,
``signal_outcome`` (``signal_outcomes``), ``trader_updated``, ``trader_removed``,
``mutes_updated``, ``ack``, ``error {message, code}``, ``pong``, and the replies to requests.

Versions: a browser says which it speaks with ``?protocol=N`` or ``auth {token, protocol: N}``
(:func:`session_version`); without, version 1. Each later version adds one batched message
(:mod:`vyx.server.batches`), the items of a screen or a close together: version 2 ``signals_created
{signals: [...]}`` (each item the ``data`` of a ``signal_created``), version 3
``signal_outcomes {outcomes: [...]}`` (each the ``data`` of a ``signal_outcome``), at most
:data:`MAX_ITEMS_PER_MESSAGE` items a message. The daemon builds the batch (:func:`batched`) and
the hub sends a browser of an older version each item on its own (:func:`per_item`), so what it
gets is what it got before the batch existed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import orjson

from vyx.json_finite import finite
from vyx.mutes import MuteError, check_symbol
from vyx.server.batches import BATCHES as BATCHES
from vyx.server.batches import MAX_ITEMS_PER_MESSAGE as MAX_ITEMS_PER_MESSAGE
from vyx.server.batches import MAX_SIGNALS_PER_MESSAGE as MAX_SIGNALS_PER_MESSAGE
from vyx.server.batches import per_item as per_item
from vyx.server.batches import signal_outcomes as signal_outcomes
from vyx.server.batches import signals_created as signals_created
from vyx.server.fields import MAX_ID_CHARS, id_field
from vyx.server.fields import ErrorCode as ErrorCode
from vyx.server.fields import ProtocolError as ProtocolError
from vyx.server.requests import MAX_FILTER_CHARS as MAX_FILTER_CHARS
from vyx.server.requests import MAX_WORDS_CHARS as MAX_WORDS_CHARS
from vyx.server.requests import ChartData as ChartData
from vyx.server.requests import Request as Request
from vyx.server.requests import SignalHistory as SignalHistory
from vyx.server.requests import TraderCheck as TraderCheck
from vyx.server.requests import TraderDraft as TraderDraft
from vyx.server.requests import parse_request

#: The newest version spoken; bumped on any incompatible change. ``hello`` announces the version
#: of the session (the browser's, at most this).
PROTOCOL_VERSION = 3

#: Largest frame the machine accepts from a browser.
MAX_FRAME_BYTES = 64 * 1024

#: Bytes of the text of an ``error`` message (and of a trader's ``error`` state) at most, as sent
#: (see :func:`clip`): whatever a browser sends, what comes back stays a few KB.
MAX_MESSAGE_BYTES = 4000

_MAX_TOKEN_CHARS = 16 * 1024
_MAX_TRADERS = 1000


# --- browser -> machine -------------------------------------------------------------------------


@attrs.frozen
class Auth:
    """``auth {token}``: authentication in the first message."""

    TYPE: ClassVar[str] = "auth"
    token: str = attrs.field(repr=False)
    request_id: str | int | None = None
    #: The newest protocol version the browser speaks (None: not said, version 1).
    protocol: int | None = None


@attrs.frozen
class Ping:
    """``ping``: answered with ``pong`` by the server itself."""

    TYPE: ClassVar[str] = "ping"
    request_id: str | int | None = None


@attrs.frozen
class ConfigUpdate:
    """``config_update {traders?, version}``: reload traders (all of them when ``traders`` is
    None, else exactly these trader objects)."""

    TYPE: ClassVar[str] = "config_update"
    version: int
    traders: tuple[Mapping[str, Any], ...] | None = None
    request_id: str | int | None = None


@attrs.frozen
class PauseExecution:
    """``pause_execution``: stop screening (market data keeps flowing)."""

    TYPE: ClassVar[str] = "pause_execution"
    request_id: str | int | None = None


@attrs.frozen
class ResumeExecution:
    """``resume_execution``: resume screening."""

    TYPE: ClassVar[str] = "resume_execution"
    request_id: str | int | None = None


@attrs.frozen
class ForceSync:
    """``force_sync``: flush the store now."""

    TYPE: ClassVar[str] = "force_sync"
    request_id: str | int | None = None


@attrs.frozen
class TraderUpsert:
    """``trader_upsert {trader}``: add or replace a trader (the object of the ``traders`` table,
    camelCase or snake_case as the browser sends it; ``id`` is required)."""

    TYPE: ClassVar[str] = "trader_upsert"
    trader: Mapping[str, Any]
    request_id: str | int | None = None

    @property
    def trader_id(self) -> str:
        """The trader's id."""
        return str(self.trader["id"])


@attrs.frozen
class TraderRemove:
    """``trader_remove {traderId}``: remove a trader."""

    TYPE: ClassVar[str] = "trader_remove"
    trader_id: str
    request_id: str | int | None = None


@attrs.frozen
class SetMute:
    """``mute {symbol? | traderId?, muted?}``: mute (``muted``, the default) or unmute a symbol
    or a trader on the machine (their signals raise no alert; :mod:`vyx.mutes`)."""

    TYPE: ClassVar[str] = "mute"
    kind: str
    target: str
    muted: bool = True
    request_id: str | int | None = None


def _parse_mute(data: Mapping[str, Any], rid: str | int | None) -> SetMute:
    if ("symbol" in data) == ("traderId" in data):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "mute needs one of symbol or traderId")
    muted = data.get("muted", True)
    if not isinstance(muted, bool):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "muted must be true or false")
    if "traderId" in data:
        return SetMute("trader", id_field(data, "traderId", "traderId"), muted, rid)
    symbol = data.get("symbol")
    try:
        checked = check_symbol(symbol if isinstance(symbol, str) else "")
    except MuteError as exc:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    return SetMute("symbol", checked, muted, rid)


#: The commands the server hands to the daemon.
Command = (
    ConfigUpdate
    | PauseExecution
    | ResumeExecution
    | ForceSync
    | TraderUpsert
    | TraderRemove
    | SetMute
    | TraderDraft
    | TraderCheck
    | ChartData
    | SignalHistory
)

#: Everything a browser may send.
ClientMessage = Auth | Ping | Command


def _request_id(data: Mapping[str, Any]) -> str | int | None:
    value = data.get("requestId")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "requestId must be a string or an integer")
    if isinstance(value, str) and len(value) > MAX_ID_CHARS:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "requestId is too long")
    if isinstance(value, int) and abs(value) > 2**53:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "requestId is out of range")
    return value


def _parse_config_update(data: Mapping[str, Any], rid: str | int | None) -> ConfigUpdate:
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "config_update.version must be a non-negative integer"
        )
    traders = data.get("traders")
    if traders is None:
        return ConfigUpdate(version=version, traders=None, request_id=rid)
    if not isinstance(traders, list) or len(traders) > _MAX_TRADERS:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "config_update.traders must be a list")
    for trader in traders:
        if not isinstance(trader, dict):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "each trader must be an object")
        id_field(trader, "id", "trader.id")
    return ConfigUpdate(version=version, traders=tuple(traders), request_id=rid)


def _parse_data(kind: str, data: Mapping[str, Any], rid: str | int | None) -> ClientMessage:
    match kind:
        case "ping":
            return Ping(request_id=rid)
        case "auth":
            token = data.get("token")
            if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
                raise ProtocolError(ErrorCode.INVALID_MESSAGE, "auth.token must be a string")
            version = data.get("protocol")
            if version is not None and (
                isinstance(version, bool) or not isinstance(version, int) or version < 1
            ):
                raise ProtocolError(
                    ErrorCode.INVALID_MESSAGE, "auth.protocol must be a positive integer"
                )
            return Auth(token=token, request_id=rid, protocol=version)
        case "config_update":
            return _parse_config_update(data, rid)
        case "pause_execution":
            return PauseExecution(request_id=rid)
        case "resume_execution":
            return ResumeExecution(request_id=rid)
        case "force_sync":
            return ForceSync(request_id=rid)
        case "trader_upsert":
            trader = data.get("trader")
            if not isinstance(trader, dict):
                raise ProtocolError(
                    ErrorCode.INVALID_MESSAGE, "trader_upsert.trader must be an object"
                )
            id_field(trader, "id", "trader.id")
            return TraderUpsert(trader=trader, request_id=rid)
        case "trader_remove":
            return TraderRemove(trader_id=id_field(data, "traderId", "traderId"), request_id=rid)
        case "mute":
            return _parse_mute(data, rid)
    request = parse_request(kind, data, rid)
    if request is not None:
        return request
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "unknown message type", request_id=rid)


def parse_client_message(frame: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> ClientMessage:
    """The message in one browser frame.

    Raises:
        ProtocolError: oversized frame, invalid UTF-8 or JSON, not an object, unknown type, or a
            field of the wrong shape (``code`` says which; ``request_id`` is set when readable).
    """
    size = len(frame.encode("utf-8", "surrogatepass")) if isinstance(frame, str) else len(frame)
    if size > max_bytes:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"frame larger than {max_bytes} bytes")
    try:
        decoded = json.loads(frame)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and UnicodeDecodeError.
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    kind = decoded.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "message.type must be a string")
    data = decoded.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "message.data must be an object")
    rid = _request_id(data)
    try:
        return _parse_data(kind, data, rid)
    except ProtocolError as error:
        error.request_id = rid
        raise


# --- machine -> browser -------------------------------------------------------------------------


def message(kind: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A message ``{"type": kind, "data": data}``."""
    return {"type": kind, "data": dict(data or {})}


def _with_request_id(data: dict[str, Any], request_id: str | int | None) -> dict[str, Any]:
    if request_id is not None:
        data["requestId"] = request_id
    return data


def session_version(asked: int | str | None) -> int:
    """The protocol version of a session whose browser said ``asked`` (an ``auth`` message's
    integer, or the ``protocol`` query parameter's text): the newest both speak; 1 when it said
    nothing or nothing readable."""
    if isinstance(asked, str):
        asked = int(asked) if asked.isascii() and asked.isdigit() and len(asked) < 6 else None
    if asked is None or asked < 1:
        return 1
    return min(asked, PROTOCOL_VERSION)


def hello(
    *,
    server_version: str,
    user_id: str | None,
    machine_id: str | None,
    queue_size: int,
    protocol: int = 1,
) -> dict[str, Any]:
    """``hello``: the first message after authentication (``protocol``: the session's)."""
    return message(
        "hello",
        {
            "protocol": protocol,
            "server": "vyx",
            "version": server_version,
            "userId": user_id,
            "machineId": machine_id,
            "maxFrameBytes": MAX_FRAME_BYTES,
            "sendQueue": queue_size,
        },
    )


def snapshot(
    *,
    signals: Sequence[Mapping[str, Any]],
    traders: Sequence[Mapping[str, Any]],
    status: Mapping[str, Any],
) -> dict[str, Any]:
    """``snapshot``: recent signals (newest first), traders with state, and the status."""
    return message(
        "snapshot",
        {
            "signals": [dict(s) for s in signals],
            "traders": [dict(t) for t in traders],
            "status": dict(status),
        },
    )


def pong(request_id: str | int | None = None) -> dict[str, Any]:
    """``pong``: the answer to ``ping``."""
    return message("pong", _with_request_id({}, request_id))


def result(request: Request, data: Mapping[str, Any]) -> dict[str, Any]:
    """``<type>_result {..., requestId?}``: the answer to a request."""
    return message(f"{request.TYPE}_result", _with_request_id(dict(data), request.request_id))


def ack(command: str, request_id: str | int | None = None) -> dict[str, Any]:
    """``ack {command}``: a command was accepted by the daemon."""
    return message("ack", _with_request_id({"command": command}, request_id))


def clip(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``text``, cut so that it takes at most ``limit`` bytes in a message (JSON escapes
    counted: ``é`` takes 6), with a note of how much was left out."""
    if len(text) <= limit // 12 or len(json.dumps(text)) - 2 <= limit:
        return text
    room, used, cut = limit - 40, 0, 0  # 40: the note
    while used + len(json.dumps(text[cut])) - 2 <= room:
        used += len(json.dumps(text[cut])) - 2
        cut += 1
    return f"{text[:cut]} … ({len(text) - cut} more characters)"


def error(
    message_text: str,
    code: str,
    *,
    request_id: str | int | None = None,
    trader_id: str | None = None,
) -> dict[str, Any]:
    """``error {message, code}`` (plus ``requestId``/``traderId`` when known); the message is
    :func:`clip`-ped."""
    data: dict[str, Any] = {"message": clip(message_text), "code": code}
    if trader_id is not None:
        data["traderId"] = trader_id
    return message("error", _with_request_id(data, request_id))


def trader_updated(trader: Mapping[str, Any]) -> dict[str, Any]:
    """``trader_updated {trader}``: a trader was added or changed, or its state changed."""
    return message("trader_updated", {"trader": dict(trader)})


def trader_removed(trader_id: str) -> dict[str, Any]:
    """``trader_removed {traderId}``."""
    return message("trader_removed", {"traderId": trader_id})


def mutes_updated(mutes: Mapping[str, Any]) -> dict[str, Any]:
    """``mutes_updated {symbols, traders}``: the user's mutes after a change."""
    return message("mutes_updated", dict(mutes))


def _default(value: Any) -> Any:
    # numpy scalars and arrays (without importing numpy here).
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            return finite(convert())
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(msg: Mapping[str, Any]) -> str:
    """``msg`` as compact JSON text; NaN/inf become null (browsers reject them).

    orjson first (a tenth of the standard library's time: a close can push hundreds of
    signals), then orjson with keys that are not strings (the option costs a third more, so
    only a message that has one pays it); what it cannot encode (an integer beyond 64 bits)
    goes through the standard library, with the same result once parsed.
    """
    for option in (0, orjson.OPT_NON_STR_KEYS):
        try:
            return orjson.dumps(msg, default=_default, option=option).decode()
        except TypeError:
            pass
    try:
        return json.dumps(msg, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError:
        return json.dumps(finite(msg), separators=(",", ":"), allow_nan=False, default=_default)
