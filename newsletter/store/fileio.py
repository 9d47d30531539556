"""Reading YAML with line numbers for error messages, and writing files atomically.

Every file the tool reads is someone's input: only regular files are read, up to a size limit,
and YAML is refused when it nests too deep, repeats a key, or uses aliases to grow (a "YAML bomb").
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import ContentError, NewsletterError

MAX_FILE_BYTES = 4 * 1024 * 1024  # a summary is ~5 KB, a subscriber list far more, still far less than this
MAX_DEPTH = 40  # nesting of mappings and lists; our files use 4
MAX_ALIASES = 100  # `*alias` references in one file; our files use none
MAX_NODES = 200_000  # values in the document once aliases are expanded

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe loader (libyaml's when present) that leaves dates as strings.

    PyYAML turns `2026-02-30` into an uncaught ValueError and `2026-05-01` into a date; we parse
    dates ourselves instead and report the file and the field.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDocument:
    """A parsed YAML mapping plus the 1-based line of each key path, e.g. ("sender", "email")."""

    path: Path
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)

    def where(self, *keys: object) -> str:
        """`file:line` for a key path, falling back to the nearest parent that has a line."""
        keys_t = tuple(keys)
        while keys_t and keys_t not in self.lines:
            keys_t = keys_t[:-1]
        line = self.lines.get(keys_t)
        return f"{self.path}:{line}" if line else str(self.path)


def _check_events(text: str, shown: Path) -> None:
    """Refuse deep nesting and many aliases before anything is built (events need no recursion)."""
    loader = _Loader(text)
    depth = aliases = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise ContentError(
                        f"{shown}:{line}: invalid YAML: nested more than {MAX_DEPTH} levels deep"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise ContentError(
                        f"{shown}:{line}: invalid YAML: more than {MAX_ALIASES} aliases (*name); "
                        "write the values out instead"
                    )
    finally:
        loader.dispose()


# Line breaks and tabs are text (a one-line field refuses line breaks itself, with a clearer
# message); every other control character (C0, DEL, C1) and the Unicode line separators are not:
# written as YAML escapes ("\x1b") they would reach headers, terminals and XML.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _scalar_problem(node: yaml.ScalarNode, prefix: tuple, shown: Path) -> str | None:
    found = _CONTROL.search(node.value)
    if not found:
        return None
    where = ".".join(str(k) for k in prefix)
    field = f" {where}:" if where else ""
    code = f"U+{ord(found.group()):04X}"
    return f"{shown}:{node.start_mark.line + 1}:{field} control character {code} in the text; remove it"


def _record_lines(root: yaml.Node, shown: Path) -> dict[tuple, int]:
    """The line of each key path; refuses duplicate keys, control characters in text, and documents
    that aliases blow up.

    Iterative, with a budget on the nodes visited: an alias is visited again wherever it is used,
    so the budget also bounds what constructing the data will build.
    """
    lines: dict[tuple, int] = {}
    budget = MAX_NODES
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        budget -= 1
        if budget < 0:
            raise ContentError(
                f"{shown}: invalid YAML: more than {MAX_NODES} values once aliases are expanded"
            )
        if isinstance(node, yaml.ScalarNode):
            problem = _scalar_problem(node, prefix, shown)
            if problem:
                raise ContentError(problem)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise ContentError(
                            f"{shown}:{line}: duplicate key {key_node.value!r} (first on line "
                            f"{seen[key_node.value]}); keep one"
                        )
                    seen[key_node.value] = line
                key = prefix + (key_node.value,)
                lines.setdefault(key, line)
                stack.append((value_node, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                key = prefix + (index,)
                lines.setdefault(key, item.start_mark.line + 1)
                stack.append((item, key))
    return lines


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
    lines: dict[tuple, int] = {}
    loader = _Loader(text)
    try:
        _check_events(text, shown)
        # The node tree gives the line numbers and is checked; the data is constructed from it.
        node = loader.get_single_node()
        if node is not None:
            lines = _record_lines(node, shown)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ContentError(f"{shown}{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ContentError(f"{shown}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDocument(shown, data, lines)


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


def dump_yaml(data: Any) -> str:
    """YAML as an editor would write it: block style, keys in the given order, Unicode kept."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so summaries stay readable in the files."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    # A long paragraph reads best folded (`>-`); folding would change doubled or edge spaces and tabs.
    plain_spaces = " " in value and value == value.strip() and "  " not in value and "\t" not in value
    if style is None and len(value) > 80 and plain_spaces:
        style = ">"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


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
