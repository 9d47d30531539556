"""A workspace: its folder and its settings, found once and handed to each command."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loading settings pulls in YAML and address validation: not for `--help`
    from newsletter.store.config import Settings


@dataclass
class Workspace:
    """The folder given by --workspace, or found upward from the current folder; loaded lazily."""

    given: Path | None = None
    _root: Path | None = field(default=None, init=False)

    @property
    def root(self) -> Path:
        if self._root is None:
            from newsletter.store.config import find_workspace

            self._root = self.given.resolve() if self.given else find_workspace()
        return self._root

    @cached_property
    def settings(self) -> Settings:
        from newsletter.store.config import load_settings

        return load_settings(self.root)
