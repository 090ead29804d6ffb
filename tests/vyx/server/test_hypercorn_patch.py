"""hypercorn's fixes are installed by a starting server, never by an import, and only on the
release they were written for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vyx.server.hypercorn_patch import PATCHED_VERSION, check_version


def test_another_hypercorn_is_refused() -> None:
    check_version(PATCHED_VERSION)
    with pytest.raises(RuntimeError, match=r"fit hypercorn 0\.18\.0, not 0\.18\.1"):
        check_version("0.18.1")
    with pytest.raises(RuntimeError, match=r"not 0\.19\.0"):
        check_version("0.19.0")


def test_importing_the_server_patches_nothing() -> None:
    code = (
        "import vyx.server.service\n"
        "from hypercorn.protocol import ws_stream\n"
        "from hypercorn.trio.tcp_server import TCPServer\n"
        "assert TCPServer._close.__module__ == 'hypercorn.trio.tcp_server', TCPServer._close\n"
        "assert ws_stream.WebsocketBuffer.__module__ == 'hypercorn.protocol.ws_stream'\n"
        "assert ws_stream.WSStream.handle.__module__ == 'hypercorn.protocol.ws_stream'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
