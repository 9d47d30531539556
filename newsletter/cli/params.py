"""Option types and the workspace handle shared by the commands."""

from __future__ import annotations

from datetime import date, datetime

import click

from newsletter.store.workspace import Workspace


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
