"""What every request of the desk shares: the workspace, the clock, who may use it, and small caches."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from newsletter.check.findings import CheckReport
from newsletter.store import content
from newsletter.store.config import Settings, load_settings
from newsletter.store.models import Summary

if TYPE_CHECKING:
    from newsletter.importers.fetch import FetchPolicy

EXTENSION = "newsletter_desk"
SNAPSHOTS = 64  # file versions kept, so a refused save can show what changed on disk since
IMPORTS_KEPT = 16  # the latest imports' results, for their pages


@dataclass(frozen=True)
class Access:
    """Who may use the desk. Both off: loopback only, the person at this machine."""

    token: str = ""  # NEWSLETTER_DESK_TOKEN: a shared secret each editor signs in with
    user_header: str = ""  # a reverse proxy's header naming the signed-in editor, e.g. X-Remote-User
    local_user: str = ""  # who "approve" names when neither is set


@dataclass
class DeskContext:
    workspace: Path
    access: Access
    clock: Callable[[], datetime]
    provider: str | None = None  # test sends: None is newsletter.yaml's provider
    fetch_policy: FetchPolicy | None = None  # imports: None is the importer's, from newsletter.yaml
    imports: OrderedDict[str, Any] = field(default_factory=OrderedDict)  # key -> imports.Result
    snapshots: OrderedDict[str, str] = field(default_factory=OrderedDict)
    reports: dict[tuple[str, str], CheckReport] = field(default_factory=dict)
    _summaries: tuple[str, dict[str, Summary]] = ("", {})
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the server runs requests in threads
    checking: threading.Lock = field(default_factory=threading.Lock)  # one `check` run at a time

    @property
    def settings(self) -> Settings:
        return load_settings(self.workspace)  # cached by the file's metadata (store/yamlcache.py)

    def summaries(self) -> dict[str, Summary]:
        """The summary store, parsed again only when a file in summaries/ changed (by its stat).

        Atomic saves give a file a new inode, so an edit is seen even within one tick of the clock.
        """
        folder = self.workspace / content.SUMMARIES_DIR
        digest = hashlib.sha256()
        if folder.is_dir():
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                try:
                    s = entry.stat()
                except OSError:
                    continue
                digest.update(f"{entry.name}\0{s.st_size}\0{s.st_mtime_ns}\0{s.st_ino}\0".encode())
        key = digest.hexdigest()
        if self._summaries[0] != key:
            self._summaries = (key, content.load_summaries(self.workspace))
        return self._summaries[1]

    def remember(self, version: str, text: str) -> None:
        """Keep a version of a file a page was made from, to show the difference on a conflict."""
        with self._lock:
            self.snapshots[version] = text
            self.snapshots.move_to_end(version)
            while len(self.snapshots) > SNAPSHOTS:
                self.snapshots.popitem(last=False)

    def keep_import(self, key: str, result: Any) -> None:
        with self._lock:
            self.imports[key] = result
            while len(self.imports) > IMPORTS_KEPT:
                self.imports.popitem(last=False)


def desk() -> DeskContext:
    found: DeskContext = current_app.extensions[EXTENSION]
    return found
