"""The protocol's error type and the checks of a browser message's fields (sans-IO): what
``vyx.server.protocol`` and ``vyx.server.requests`` share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Longest id (trader, signal, request) a browser may send (characters).
MAX_ID_CHARS = 128


class ErrorCode:
    """Values of ``error.data.code``."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    COMMAND_FAILED = "command_failed"
    COMMAND_TIMEOUT = "command_timeout"
    UNAVAILABLE = "unavailable"
    TRADER_ERROR = "trader_error"
    #: Too many requests of one session in flight; send it again later.
    BUSY = "busy"


class ProtocolError(Exception):
    """A frame the machine cannot accept; ``code`` and ``message`` go into the ``error`` reply."""

    def __init__(self, code: str, message: str, *, request_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def id_field(data: Mapping[str, Any], key: str, what: str) -> str:
    """``data[key]``: a non-empty string of at most :data:`MAX_ID_CHARS`."""
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"{what} must be a non-empty string")
    return value


def text_field(data: Mapping[str, Any], key: str, limit: int, *, required: bool) -> str | None:
    """``data[key]``: a string of at most ``limit`` characters (None if absent and optional)."""
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"{key} must be a string")
    if len(value) > limit:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"{key}: at most {limit} characters")
    return value


def int_field(data: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    """``data[key]``: an integer (not a boolean) from ``low`` to ``high`` (None if absent)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f"{key} must be an integer from {low} to {high}"
        )
    return value
