"""The data directory, made private before anything is written there, and the error that
keeps the daemon from starting (:class:`StartupError`: one line saying what to change; the
command line prints it and exits with status 2, :mod:`vyx.daemon.startup`).

The data directory is created ``0700`` and every file the daemon keeps there is ``0600`` (SQLite
gives its ``-wal`` and ``-shm`` files the mode of the database file). A directory that cannot be
used is a :class:`StartupError` saying why, as is an address the server cannot listen on.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Mode of the data directory and of the files in it.
DIR_MODE, FILE_MODE = 0o700, 0o600


class StartupError(Exception):
    """The daemon cannot start; the message is one line saying what to change."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "it is not a directory"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or type(exc).__name__


def prepare_data_dir(path: Path, files: tuple[Path, ...] = ()) -> None:
    """Create ``path`` (mode 0700) if needed, make it and the files in it private (0600;
    ``files`` are created empty when missing) and check that the daemon can write there.

    Raises:
        StartupError: ``VYX_DATA_DIR`` cannot be used, and why.
    """
    where = f"VYX_DATA_DIR={str(path)!r}"
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"{where}: cannot create it: {_reason(exc)}") from None
    if not path.is_dir():
        raise StartupError(f"{where}: it is not a directory")
    _tighten(path, DIR_MODE)
    probe = path / f".vyx-write-check-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, FILE_MODE))
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"{where}: cannot write in it: {_reason(exc)}") from None
    for file in files:
        try:
            os.close(os.open(file, os.O_CREAT | os.O_RDWR, FILE_MODE))
        except OSError as exc:
            raise StartupError(f"{where}: cannot open {file.name}: {_reason(exc)}") from None
    # Files an older version (or another umask) left readable by others.
    for entry in path.iterdir():
        if entry.is_file():
            _tighten(entry, FILE_MODE)


@contextmanager
def private_files() -> Iterator[None]:
    """While it lasts, files this process creates are private (umask 077): the daemon's
    commands run in it, so every file of the data directory is 0600 whoever creates it."""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def _tighten(path: Path, mode: int) -> None:
    """Take group and other access away from ``path`` when it is ours (else leave it)."""
    if os.name != "posix":
        return
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
            path.chmod(mode)
    except OSError:
        pass  # not ours to change; writing is checked separately
