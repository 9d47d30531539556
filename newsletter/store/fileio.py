"""Reading files with limits, YAML documents with line numbers, and writing files atomically.

Every file the tool reads is someone's input: only regular files are read, up to a size limit.
Parsing is store/yamltext.py's job.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from newsletter.errors import ContentError, NewsletterError

MAX_FILE_BYTES = 4 * 1024 * 1024  # a summary is ~5 KB, a subscriber list far more, still far less than this


class YamlDocument:
    """A parsed YAML mapping plus the 1-based line of each key path, e.g. ("sender", "email")."""

    def __init__(self, path: Path, data: Any, lines: dict[tuple, int] | None = None) -> None:
        self.path = path
        self.data = data
        self.lines = {} if lines is None else lines

    def where(self, *keys: object) -> str:
        """`file:line` for a key path, falling back to the nearest parent that has a line."""
        keys_t = tuple(keys)
        while keys_t and keys_t not in self.lines:
            keys_t = keys_t[:-1]
        line = self.lines.get(keys_t)
        return f"{self.path}:{line}" if line else str(self.path)


def read_bytes(
    path: Path, shown: str | Path, error: type[NewsletterError] = ContentError, limit: int = MAX_FILE_BYTES
) -> bytes:
    """A regular file's bytes, at most `limit`; a FIFO, device or directory is refused, not read."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; only a regular file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{shown}: file not found") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{shown}: not a regular file; give a file, not a pipe, device or folder")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise error(f"{shown}: cannot read ({exc.strerror})") from None
    if len(data) > limit:
        raise error(f"{shown}: larger than {limit // (1024 * 1024)} MB; is this the right file?")
    return data


def read_text(path: Path, shown: str | Path, error: type[NewsletterError] = ContentError) -> str:
    """A UTF-8 text file's content; a missing, unreadable, oversized or non-UTF-8 file is `error`."""
    data = read_bytes(path, shown, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_yaml(path: Path, display: str | Path | None = None) -> YamlDocument:
    """Load one YAML file; invalid YAML or an unreadable file is a ContentError naming the line."""
    shown = Path(display) if display is not None else path
    return parse_yaml(read_text(path, shown), shown)


def parse_yaml(text: str, shown: Path) -> YamlDocument:
    """Parse YAML text; errors name the file and line."""
    from newsletter.store import yamltext

    return yamltext.parse_yaml(text, shown)


def dump_yaml(data: Any) -> str:
    """YAML as an editor would write it: block style, keys in the given order, Unicode kept."""
    from newsletter.store import yamltext

    return yamltext.dump_yaml(data)


# mkstemp makes 0600 files; a written file should get the mode any new file gets (0666 less umask).
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so readers see the old or the new content, never half of it.

    A folder that cannot be written or a full disk is a NewsletterError naming the file; the old
    content stays and no temporary file is left behind.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        _replace(path, payload)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise NewsletterError(
            f"{path}: cannot write ({reason}); check the folder's permissions and free space"
        ) from None


def _replace(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777  # keep the mode of the file being replaced
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (made if missing), across threads and processes.

    The kernel drops an `flock` when its holder dies, so a crash never leaves it held. Two
    commands that read, change and write the same files (imports, list changes) take turns.
    """
    lock_file = lock_file.resolve()
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(lock_file, threading.Lock())
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_file, "a")  # noqa: SIM115 - held across the yield
    except OSError as exc:
        raise NewsletterError(f"{lock_file}: cannot create the lock file ({exc.strerror})") from None
    with thread_lock, handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
