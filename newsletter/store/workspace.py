"""A workspace: its folder and its settings, found once and handed to each command."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import ConfigError

if TYPE_CHECKING:  # the settings' module and its checks load when a command reads them
    from newsletter.store.config import Settings

SETTINGS_FILE = "newsletter.yaml"  # the file that makes a folder a workspace


class Workspace:
    """The folder given by --workspace, or found upward from the current folder; loaded lazily."""

    def __init__(self, given: Path | None = None) -> None:
        self.given = given
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self.given.resolve() if self.given else find_workspace()
        return self._root

    @cached_property
    def settings(self) -> Settings:
        from newsletter.store.config import load_settings

        return load_settings(self.root)


def find_workspace(start: Path | None = None) -> Path:
    """The nearest folder, from `start` upward, holding newsletter.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SETTINGS_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {SETTINGS_FILE} in {here} or any folder above it; run inside a workspace or pass --workspace DIR"
    )
