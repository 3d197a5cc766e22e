"""One way to write a file so that a crash never leaves half of it: :func:`write_atomic`.

What happens depends on what the path names:

* nothing yet, or a **regular file**: the data goes to a temporary file in the same
  directory, is flushed to disk and renamed over the path (``os.replace``). Readers see
  the old file or the new one, never half of one; a replaced file keeps its permission
  bits; a new one gets the usual ones (the umask applies).
* a **symlink**: it is followed; its target is written as above and the link itself is
  never replaced (a dangling link gets its target created).
* a **character device or a FIFO** (``/dev/null``, ``/dev/stdout``, a named pipe, a
  ``/proc/self/fd/1`` that is a pipe or a terminal): written in place, as the shell's
  ``>`` does. Renaming a file over it would replace the device node itself.
* a **directory, block device or socket**: refused with an ``OSError`` naming the path.

Temporary files are named ``.<name>.<12 hex digits>.tmp<suffix>`` and hold an
``flock`` while they are written. A writer killed with ``kill -9`` cannot remove its
temporary file, so every write first removes the temporary files of the same target
whose lock is free (their writer is gone); a file another writer is still writing is
left alone. Errors (``OSError``) name the caller's path, never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX; elsewhere stale temporary files are not cleaned (nothing else changes)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_path", "write_atomic"]

_TOKEN_DIGITS = 12


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` (bytes, or text written as UTF-8) to ``path`` atomically.

    See the module docstring for regular files, symlinks, devices and FIFOs.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"write_atomic writes bytes or str, not {type(data).__name__}")
    with atomic_path(path) as where, _named(path), open(where, "wb") as f:
        f.write(payload)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A path to write in full; when the block succeeds it becomes ``path``.

    For a regular (or new) file the yielded path is a temporary file next to the
    target, renamed over it when the block ends without an exception and removed
    when it raises (``path`` is then left as it was). For a character device or a
    FIFO the yielded path is ``path`` itself (written in place; nothing to rename).
    Use it for writers that want a file name (``savefig``); :func:`write_atomic` for
    bytes.
    """
    target = os.fspath(path)
    if not isinstance(target, str):
        target = os.fsdecode(target)
    real, mode = _destination(target)
    if real is None:  # a character device or a FIFO: written in place
        with _named(target):
            yield Path(target)
        return
    directory, base = os.path.split(real)
    suffix = os.path.splitext(base)[1]
    with _named(target):
        if not os.path.isdir(directory):
            raise FileNotFoundError(
                errno.ENOENT, f"the directory {directory!r} does not exist", target
            )
        _remove_stale(directory, base, suffix)
        tmp, fd = _create_temp(directory, base, suffix)
    try:
        try:
            with _named(target):
                yield Path(tmp)
            with _named(target):
                os.fsync(fd)
                if mode is not None:
                    os.chmod(tmp, mode)
                _recheck(real, target)
                os.replace(tmp, real)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    finally:
        os.close(fd)  # after the rename: the lock marks the file as being written
    _sync_directory(directory)


def _destination(target: str) -> tuple[str | None, int | None]:
    """Where to rename the temporary file to, and the mode bits to give it.

    ``(None, None)``: write ``target`` in place (a character device or a FIFO).
    Otherwise the path of the regular file to replace (symlinks resolved), with its
    permission bits, or None for the mode when the file does not exist yet.
    """
    if not target or target.endswith(os.sep) or (os.altsep and target.endswith(os.altsep)):
        raise IsADirectoryError(errno.EISDIR, "not a file name", target)
    with _named(target):
        try:
            st = os.stat(target)  # follows symlinks
        except FileNotFoundError:
            # nothing there, or a dangling symlink: create the link's target
            return os.path.realpath(target), None
        kind = st.st_mode
        if stat.S_ISREG(kind):
            return os.path.realpath(target), stat.S_IMODE(kind)
        if stat.S_ISCHR(kind) or stat.S_ISFIFO(kind):
            return None, None
        if stat.S_ISDIR(kind):
            raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", target)
        what = (
            "a block device"
            if stat.S_ISBLK(kind)
            else "a socket"
            if stat.S_ISSOCK(kind)
            else ("not a regular file")
        )
        raise OSError(errno.EINVAL, f"refusing to write: the path is {what}", target)


def _recheck(real: str, target: str) -> None:
    """Refuse the rename if something other than a regular file appeared at ``real``."""
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise OSError(
            errno.EEXIST,
            "refusing to replace it: it stopped being a regular file while it was written",
            target,
        )


def _create_temp(directory: str, base: str, suffix: str) -> tuple[str, int]:
    """A new temporary file for ``base`` in ``directory``, created and locked; (path, fd)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(
            directory, f".{base}.{secrets.token_hex(_TOKEN_DIGITS // 2)}.tmp{suffix}"
        )
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any file
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: never contended
        return tmp, fd


def _stale_pattern(base: str, suffix: str) -> re.Pattern[str]:
    return re.compile(
        # the suffix is optional: Module.save's temporary files had none before
        rf"\.{re.escape(base)}\.[0-9a-f]{{{_TOKEN_DIGITS}}}\.tmp(?:{re.escape(suffix)})?",
    )


def _remove_stale(directory: str, base: str, suffix: str) -> None:
    """Remove temporary files of this target whose writer is gone (their lock is free)."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    pattern = _stale_pattern(base, suffix)
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return
    for name in names:
        tmp = os.path.join(directory, name)
        try:
            # O_NONBLOCK: a FIFO named like a temporary file must not block the open
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(tmp, flags)
        except OSError:
            continue  # gone already, a symlink, or unreadable: not ours to touch
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # another writer is writing it right now
            # unlink only the file we locked (a writer may have renamed it away meanwhile)
            with contextlib.suppress(OSError):
                if os.path.samestat(os.lstat(tmp), os.fstat(fd)):
                    os.unlink(tmp)
        finally:
            os.close(fd)


def _sync_directory(directory: str) -> None:
    """Flush the rename to disk (best effort: not every system can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _named(target: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise an ``OSError`` so that it names ``target``, never the temporary file."""
    try:
        yield
    except OSError as e:
        shown = os.fspath(target)
        if e.filename == shown and e.filename2 is None:
            raise
        if e.errno is None:
            raise type(e)(f"{e} (writing {shown!r})") from None
        raise type(e)(e.errno, e.strerror, shown) from None
