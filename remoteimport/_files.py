"""I/O: the one way remoteimport writes a local file — atomically, so no reader ever sees it half written —
and the one way it reads a file someone else may have planted (never through a link, never blocking)."""

from __future__ import annotations

import errno
import os
import stat

TEMPORARY_PREFIX = ".tmp-"  # a write in progress, or one that crashed: never a finished file
STALE_TEMPORARY_AGE = 3600.0  # seconds after which a temporary file is a crashed write's, not one in progress
_PORTABLE_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _PORTABLE_FLAGS
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _PORTABLE_FLAGS


class NotRegularFileError(OSError):
    """Something other than a plain file (a link, a FIFO, a folder, a device) sits where a file was expected."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{kind}, not a regular file", path)
        self.kind = kind


def write_atomically(path: str, data: bytes, *, fsync: bool = False, private: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder renamed into place (the folder
    is created if needed). ``fsync`` also flushes it to disk first: for data that must survive a crash.

    The file gets the mode any new file gets (0o666 less the umask), so a store folder shared by a group stays
    readable by the group; ``private`` makes it readable by its owner only (0o600), as for the blob cache, and
    the folders it creates for it too (0o700)."""
    folder = os.path.dirname(path) or "."
    if private:
        make_private_folders(folder)
    else:
        os.makedirs(folder, exist_ok=True)
    handle, temporary = _create_temporary(folder, 0o600 if private else 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            if fsync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def make_private_folders(folder: str) -> None:
    """Create ``folder`` and every missing folder above it with mode 0o700 (``os.makedirs`` gives its ``mode``
    to the last one only); folders that exist are left as they are."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


def read_regular_file(path: str, start: int = 0, end: int | None = None) -> bytes:
    """The bytes of the plain file at ``path`` (from ``start`` up to ``end``: None reads to the end). A symbolic
    link there is not followed, and a FIFO, socket or device is not read, so a planted one can neither leak
    another file's bytes nor block the caller: those raise :class:`NotRegularFileError` (and nothing there
    raises ``FileNotFoundError``)."""
    try:
        handle = os.open(path, _READ_FLAGS)
    except OSError as exc:
        kind = _file_kind(path)  # ELOOP for a link (O_NOFOLLOW), ENXIO for a socket, ...
        if kind is not None and kind != "a regular file":
            raise NotRegularFileError(path, kind) from exc
        raise
    with os.fdopen(handle, "rb") as file:
        kind = _kind_of(os.fstat(handle).st_mode)
        if kind != "a regular file":
            raise NotRegularFileError(path, kind)
        if start:
            file.seek(start)
        return file.read() if end is None else file.read(max(0, end - start))


def _file_kind(path: str) -> str | None:
    """What is at ``path``, not following a link: "a regular file", "a symbolic link", "a FIFO (named pipe)",
    "a folder", ...; None when nothing is there (or it cannot be looked at)."""
    try:
        return _kind_of(os.lstat(path).st_mode)
    except OSError:
        return None


_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind_of(mode: int) -> str:
    return next((kind for is_kind, kind in _KINDS if is_kind(mode)), "a special file")


def _create_temporary(folder: str, mode: int) -> tuple[int, str]:
    """A new, empty ``.tmp-<random>`` file in ``folder``, created with ``mode`` less the umask, as any new file
    (``tempfile.mkstemp`` would always make it 0o600)."""
    for _ in range(100):
        temporary = os.path.join(folder, TEMPORARY_PREFIX + os.urandom(8).hex())
        try:
            return os.open(temporary, _CREATE_FLAGS, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", folder)
