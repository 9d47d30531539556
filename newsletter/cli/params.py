"""The option types of the commands: each turns the typed text into a value or says, in one line, why not.

Click shows a type's failure as `--option: <message>`, so each message starts with the value given
and ends with what to type instead. Each type imports what it needs when it runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from datetime import date, datetime
    from pathlib import Path

ISSUE_HELP = "The issue's id (2026-06) or its file (issues/2026-06.yaml)."


class IssueId(click.ParamType):
    """An issue id, or the path of its file (`issues/2026-06.yaml`), as an editor tab-completes it."""

    name = "issue"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text.endswith((".yaml", ".yml")) or "/" in text:
            from pathlib import PurePath

            path = PurePath(text)
            if path.suffix not in (".yaml", ".yml") or path.parent.name not in ("issues", ""):
                self.fail(f"{text!r} is not an issue: give its id (2026-06) or issues/ID.yaml", param, ctx)
            return path.stem
        return text


class IsoDate(click.ParamType):
    """A YYYY-MM-DD date."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        from datetime import date

        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-05-01", param, ctx)


class IsoDateTime(click.ParamType):
    """An ISO 8601 date and time, e.g. 2026-06-02T09:00:00-04:00 (no offset: the workspace's zone)."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        from datetime import datetime

        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date-time; use e.g. 2026-06-02T09:00:00-04:00", param, ctx)


class WholeNumber(click.ParamType):
    """A whole number from `low` to `high`, both included."""

    name = "integer"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number; use one in {self.low}..{self.high}", param, ctx)
        if not self.low <= number <= self.high:
            self.fail(f"{number} is not in {self.low}..{self.high}", param, ctx)
        return number


class MessagesPerSecond(click.ParamType):
    """A rate above 0 (nan and inf are no rate: nan compares false with every bound)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        if not math.isfinite(rate) or rate <= 0:
            self.fail(f"{value} is not a number of messages per second above 0; use e.g. 10", param, ctx)
        return rate


class Choice(click.Choice):
    """One of `choices`; a near miss names the one meant instead of listing them all."""

    def __init__(self, choices: Sequence[str]) -> None:
        super().__init__(choices)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.choices:
            return value
        near = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
        hint = f"did you mean '{near[0]}'?" if near else "choose from " + ", ".join(map(repr, self.choices))
        self.fail(f"invalid choice: {value!r}; {hint}", param, ctx)


class PathOf(click.ParamType):
    """A path that must be a folder or a file, existing or not yet."""

    def __init__(self, folder: bool, exists: bool) -> None:
        self.folder, self.exists = folder, exists
        self.name = "directory" if folder else "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from pathlib import Path

        path = Path(value)
        if self.exists and not path.exists():
            self.fail(f"{self.name.replace('directory', 'folder')} {str(value)!r} does not exist", param, ctx)
        if self.folder and path.exists() and not path.is_dir():
            self.fail(f"{str(value)!r} is a file; give a folder", param, ctx)
        if not self.folder and path.is_dir():
            self.fail(f"{str(value)!r} is a folder; give a file", param, ctx)
        return path


EXISTING_FOLDER = PathOf(folder=True, exists=True)
EXISTING_FILE = PathOf(folder=False, exists=True)
FOLDER_TO_WRITE = PathOf(folder=True, exists=False)  # may not exist yet, but is not a file
FILE_TO_WRITE = PathOf(folder=False, exists=False)  # may not exist yet, but is not a folder
