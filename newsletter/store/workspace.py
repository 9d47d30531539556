"""A workspace: its folder and its settings, found once and handed to each command."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from newsletter.store.config import Settings, find_workspace, load_settings


@dataclass
class Workspace:
    """The folder given by --workspace, or found upward from the current folder; loaded lazily."""

    given: Path | None = None
    _root: Path | None = field(default=None, init=False)

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self.given.resolve() if self.given else find_workspace()
        return self._root

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.root)
