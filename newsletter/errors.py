"""The project's errors: each prints as one clear message and a non-zero exit, never a traceback.

`NewsletterError` is a `click.ClickException` (as MkDocs's errors are): a library error that reaches
the command line prints as `Error: <message>` and exits with its status, with no code of its own.
"""

from __future__ import annotations

from enum import IntEnum

import click

from newsletter.text import printable


class ExitStatus(IntEnum):
    """Every exit code the command line documents, for scripts and cron to act on."""

    OK = 0  # done; for `send`, every recipient was sent
    ERROR = 1  # a problem to fix first (a NewsletterError)
    USAGE = 2  # a usage error: an unknown option, a missing argument, a value out of range
    FAILURES = 3  # the run is over but some recipients failed or are unknown
    PAUSED = 4  # the run paused itself after repeated errors; `send` again resumes
    REFUSED = 5  # `send-due` refused an issue (too late, held, not ready)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; `send` again resumes


class NewsletterError(click.ClickException):
    """A problem the user can fix; the command line prints `Error: <message>` and exits with status 1.

    Messages often quote what came from outside (a file name, a server's reply, a field's value),
    so they are printed with control characters escaped: nothing can retitle or recolour a terminal.
    """

    exit_code = ExitStatus.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def format_message(self) -> str:
        return printable(self.message, lines=True)


class ConfigError(NewsletterError):
    """newsletter.yaml (or another settings file) is missing or invalid."""


class ContentError(NewsletterError):
    """A summary, issue or subscriber file is invalid."""


class PageError(NewsletterError):
    """A site page could not be recognised or read."""


class RenderError(NewsletterError):
    """An issue could not be rendered."""


class DeliveryError(NewsletterError):
    """Messages could not be handed to the provider."""


def problems(header: str, items: list[str]) -> str:
    """Format several problems as one message, so a user can fix a file in one pass."""
    if len(items) == 1:
        # A problem that already starts with the file's path needs no header in front of it.
        return f"{header}: {items[0]}" if header and not items[0].startswith(header) else items[0]
    lines = "\n".join(f"  - {item}" for item in items)
    return f"{header}: {len(items)} problems:\n{lines}"
