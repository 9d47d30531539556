"""Who hears of a workspace migration: the command line registers a printer here (no heavy imports,
so registering costs the CLI's start-up nothing)."""

from __future__ import annotations

from collections.abc import Callable

Announce = Callable[[list[str]], None]

_announcers: list[Announce] = []


def on_migration(announce: Announce) -> None:
    """Have `announce` shown the report of a workspace migration (the command line prints it)."""
    if announce not in _announcers:
        _announcers.append(announce)


def migrated(lines: list[str]) -> None:
    for announce in _announcers:
        announce(lines)
