"""Small checks shared by the loaders of settings, summaries and issues; each collects problems."""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from newsletter.store.addresses import is_valid_address
from newsletter.store.fileio import YamlDocument


class Problems:
    """Collects `file:line: key: what is wrong` messages for one document."""

    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.items: list[str] = []

    def add(self, keys: tuple, message: str) -> None:
        name = ".".join(str(k) for k in keys)
        self.items.append(
            f"{self.doc.where(*keys)}: {name}: {message}" if name else f"{self.doc.where()}: {message}"
        )

    def __bool__(self) -> bool:
        return bool(self.items)


def text(value: Any) -> TypeGuard[str]:
    """A string with something in it besides white space."""
    return isinstance(value, str) and value.strip() != ""


def single_line(value: str) -> bool:
    return "\r" not in value and "\n" not in value


def https_url(value: Any) -> TypeGuard[str]:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.netloc)


def email_address(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and is_valid_address(value)  # the same rule as a subscriber's address


def parse_date(value: Any) -> date | None:
    """An ISO date (YYYY-MM-DD) that really exists, else None."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_datetime(value: Any) -> datetime | None:
    """An ISO date-time with or without an offset, e.g. 2026-05-01T09:00:00-04:00, else None."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def unknown_keys(problems: Problems, data: dict, known: set[str], prefix: tuple = ()) -> None:
    """Every key not in `known`, with the nearest known one when it looks like a typo."""
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.add(prefix + (key,), f"unknown field; {hint}expected one of: {', '.join(sorted(known))}")
