"""Option types and the workspace handle shared by the commands."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import PurePath

import click

from newsletter.store.workspace import Workspace


class IssueParam(click.ParamType):
    """An issue id, or the path of its file (`issues/2026-06.yaml`), as an editor tab-completes it."""

    name = "ISSUE"

    def convert(self, value, param, ctx):
        text = str(value)
        if text.endswith((".yaml", ".yml")) or "/" in text:
            path = PurePath(text)
            if path.suffix not in (".yaml", ".yml") or path.parent.name not in ("issues", ""):
                self.fail(f"{text!r} is not an issue: give its id (2026-06) or issues/ID.yaml", param, ctx)
            return path.stem
        return text


ISSUE = IssueParam()


class DateParam(click.ParamType):
    """A YYYY-MM-DD date on the command line."""

    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-05-01", param, ctx)


DATE = DateParam()


class DateTimeParam(click.ParamType):
    """An ISO 8601 date and time, e.g. 2026-06-02T09:00:00-04:00 (no offset: the workspace's zone)."""

    name = "DATETIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date-time; use e.g. 2026-06-02T09:00:00-04:00", param, ctx)


pass_workspace = click.make_pass_decorator(Workspace)
