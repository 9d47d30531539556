"""The workspace's YAML files as last parsed, so a command reading unchanged files needs no parser.

Kept in `.newsletter/yaml-cache.json`: for each file (by its path in the workspace) its stat, as
git's index keeps it (mtime, size, inode, ctime), the parsed data and the line of each key. Only
parsed documents are kept: a file with an error is parsed, and its error reported, every time;
the checks of the data (store/validate, the settings' rules) run every time on what comes back.

"Racy" files (git's word): a change within one tick of the filesystem's clock leaves the stat as
it was. So an entry is kept only for a file last changed RACY_NS before it was read, and trusted
only if changed RACY_NS before the cache file was written (the filesystem's own clock).

The cache is JSON, never pickle: a file in the workspace must not be able to run code. A document
holding anything JSON does not give back exactly (a date from an explicit tag, a number as a key,
a value shared through an alias) is not kept. Any problem with the cache is no cache: it is only
ever a shortcut. Writing is atomic and silently skipped when it fails (read-only workspace, full
disk); two commands writing at once are fine, the last one's file stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.errors import NewsletterError
from newsletter.store.fileio import YamlDocument, atomic_write, load_yaml

CACHE_FILE = Path(".newsletter") / "yaml-cache.json"
FORMAT = 1  # bump when parsing gives anything different (store/yamltext.py, YamlDocument)
RACY_NS = 2_000_000_000  # 2 s: FAT's clock tick, and more than enough for a local disk's
MAX_CACHE_BYTES = 64 * 1024 * 1024


@contextmanager
def yaml_cache(workspace: Path) -> Iterator[YamlCache]:
    """The workspace's cache for a batch of loads; what they parsed is written once, at the end."""
    cache = YamlCache(workspace)
    try:
        yield cache
    finally:
        cache.save()


def load_cached(workspace: Path, path: Path, display: str | Path) -> YamlDocument:
    """One file of the workspace, as fileio.load_yaml gives it, from the cache when unchanged."""
    with yaml_cache(workspace) as cache:
        return cache.load(path, display)


class YamlCache:
    """The cached documents of one workspace, read when made; `save` writes back what changed."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.file = workspace / CACHE_FILE
        self.started_ns = time.time_ns()  # before any file is read
        self.entries, self.written_ns = _read_cache(self.file)
        self.changed = False

    def load(self, path: Path, display: str | Path) -> YamlDocument:
        """fileio.load_yaml's document (or its error), without parsing when the file is unchanged."""
        shown = Path(display)
        key = self._key(path)
        try:
            st = os.stat(path)
        except OSError:
            return load_yaml(path, shown)  # reports the missing or unreadable file
        if key is None or not stat.S_ISREG(st.st_mode):
            return load_yaml(path, shown)
        signature = [st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns]
        doc = self._cached(key, signature, shown)
        if doc is not None:
            return doc
        doc = load_yaml(path, shown)
        entry = _entry(signature, doc)
        if entry is not None and st.st_mtime_ns < self.started_ns - RACY_NS:
            self.entries[key] = entry
            self.changed = True
        elif self.entries.pop(key, None) is not None:
            self.changed = True  # what was kept is out of date
        return doc

    def save(self) -> None:
        if not self.changed:
            return
        kept = {key: entry for key, entry in self.entries.items() if (self.workspace / key).is_file()}
        payload = json.dumps({"format": FORMAT, "entries": kept}, separators=(",", ":"))
        # A read-only workspace or a full disk: the next command parses the files again.
        with contextlib.suppress(NewsletterError, OSError):
            atomic_write(self.file, payload)
        self.changed = False

    def _key(self, path: Path) -> str | None:
        try:
            return path.relative_to(self.workspace).as_posix()
        except ValueError:
            return None  # outside the workspace: not ours to keep

    def _cached(self, key: str, signature: list[int], shown: Path) -> YamlDocument | None:
        entry = self.entries.get(key)
        if not isinstance(entry, dict) or entry.get("stat") != signature:
            return None
        if signature[0] >= self.written_ns - RACY_NS:
            return None  # changed too close to the cache's writing: it may hold the older content
        try:
            data = json.loads(entry["data"])  # each load gets its own copy, free to change
            lines = {tuple(keys): line for keys, line in entry["lines"]}
        except (KeyError, TypeError, ValueError, RecursionError):
            return None
        return YamlDocument(shown, data, lines)


def _read_cache(file: Path) -> tuple[dict[str, object], int]:
    """The entries and the cache file's write time; nothing (and 0) if it is missing or unusable."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO put there must not block us
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CACHE_BYTES:
                return {}, 0
            found = json.loads(handle.read(MAX_CACHE_BYTES))
    except (OSError, ValueError, RecursionError):  # missing, unreadable, not JSON, truncated
        return {}, 0
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        return {}, 0
    entries = found.get("entries")
    return (entries, st.st_mtime_ns) if isinstance(entries, dict) else ({}, 0)


def _entry(signature: list[int], doc: YamlDocument) -> dict[str, object] | None:
    """The cache's entry for a parsed document, or None if JSON would not give it back exactly."""
    if not _json_exact(doc.data, set()):
        return None
    # Key paths hold mapping keys (scalars' text) and list positions; anything else is not kept.
    if not all(type(part) in (str, int) for keys in doc.lines for part in keys):
        return None
    lines = [[list(keys), line] for keys, line in doc.lines.items()]
    return {"stat": signature, "data": json.dumps(doc.data), "lines": lines}


def _json_exact(value: object, containers: set[int]) -> bool:
    """Whether json.loads(json.dumps(value)) gives `value` back: the same types, nothing shared."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return True
    if kind not in (dict, list):
        return False  # a date, bytes, a set: YAML's explicit tags
    if id(value) in containers:
        return False  # an alias: JSON would give two copies where YAML gave one value
    containers.add(id(value))
    if isinstance(value, dict):
        return all(type(k) is str and _json_exact(v, containers) for k, v in value.items())
    assert isinstance(value, list)
    return all(_json_exact(item, containers) for item in value)
