"""The option types of the commands: each turns the typed text into a value or says, in one line, why not.

argparse prints a type's ArgumentTypeError as `--option: <message>`, so each message starts with the
value given and ends with what to type instead.
"""

from __future__ import annotations

from argparse import ArgumentTypeError

# Each type imports what it needs when it runs: `newsletter --help` loads none of it.
TYPE_CHECKING = False  # not typing's: `newsletter --help` need not load typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date, datetime
    from pathlib import Path

ISSUE_HELP = "The issue's id (2026-06) or its file (issues/2026-06.yaml)."


def issue_id(text: str) -> str:
    """An issue id, or the path of its file (`issues/2026-06.yaml`), as an editor tab-completes it."""
    if text.endswith((".yaml", ".yml")) or "/" in text:
        from pathlib import PurePath

        path = PurePath(text)
        if path.suffix not in (".yaml", ".yml") or path.parent.name not in ("issues", ""):
            raise ArgumentTypeError(f"{text!r} is not an issue: give its id (2026-06) or issues/ID.yaml")
        return path.stem
    return text


def iso_date(text: str) -> date:
    """A YYYY-MM-DD date."""
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-05-01") from None


def iso_datetime(text: str) -> datetime:
    """An ISO 8601 date and time, e.g. 2026-06-02T09:00:00-04:00 (no offset: the workspace's zone)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a date-time; use e.g. 2026-06-02T09:00:00-04:00") from None


def whole_number_in(low: int, high: int) -> Callable[[str], int]:
    """A whole number from `low` to `high`, both included."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ArgumentTypeError(f"{text!r} is not a whole number; use one in {low}..{high}") from None
        if not low <= value <= high:
            raise ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value

    return convert


def messages_per_second(text: str) -> float:
    """A rate above 0 (nan and inf are no rate: nan compares false with every bound)."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ArgumentTypeError(f"{text} is not a number of messages per second above 0; use e.g. 10")
    return value


def existing_folder(text: str) -> Path:
    from pathlib import Path

    path = Path(text)
    if not path.exists():
        raise ArgumentTypeError(f"folder {text!r} does not exist")
    if not path.is_dir():
        raise ArgumentTypeError(f"{text!r} is a file; give a folder")
    return path


def existing_file(text: str) -> Path:
    from pathlib import Path

    path = Path(text)
    if not path.exists():
        raise ArgumentTypeError(f"file {text!r} does not exist")
    if path.is_dir():
        raise ArgumentTypeError(f"{text!r} is a folder; give a file")
    return path


def folder_to_write(text: str) -> Path:
    """A folder that may not exist yet, but is not a file."""
    from pathlib import Path

    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ArgumentTypeError(f"{text!r} is a file; give a folder")
    return path


def file_to_write(text: str) -> Path:
    """A file that may not exist yet, but is not a folder."""
    from pathlib import Path

    path = Path(text)
    if path.is_dir():
        raise ArgumentTypeError(f"{text!r} is a folder; give a file")
    return path
