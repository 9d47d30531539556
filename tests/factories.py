"""Shared builders for tests: summaries and issues as values, the CLI on a workspace, file snapshots.

Imported by its bare name (`from factories import summary`), like `sample_workspace`.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsletter.cli import main
from newsletter.store.models import Issue, Section, Summary


def summary(
    sid: str = "cd29-b-cells",
    published: date = date(2026, 5, 1),
    topics: tuple[str, ...] = (),
    as_teaser: bool = False,
    **changes: object,
) -> Summary:
    """A valid summary (a teaser when `as_teaser`), with any field changed by keyword."""
    fields: dict[str, object] = dict(
        id=sid,
        title=f"Title of {sid}",
        url=f"https://msresearch.example.org/research/{sid}",
        published=published,
        topics=tuple(topics),
        takeaway=None if as_teaser else "A takeaway.",
        found=None if as_teaser else "What they found.",
        considerations=None if as_teaser else "The study was small.",
        teaser="A teaser." if as_teaser else None,
    )
    fields.update(changes)
    return Summary(**fields)  # type: ignore[arg-type]


def issue(
    iid: str = "2026-06",
    since: date = date(2026, 5, 1),
    until: date = date(2026, 5, 31),
    items: tuple[str, ...] | None = None,
    **changes: object,
) -> Issue:
    """A valid issue; `items` makes it one "More research" section of those summary ids."""
    fields: dict[str, object] = dict(
        id=iid,
        title="MS Research Roundup, June 2026",
        subject="Microglia, gut bacteria and a new look at B cells",
        preheader="Five new studies in plain language",
        since=since,
        until=until,
        intro="Welcome.",
        sections=(
            (Section("More research", items),)
            if items is not None
            else (Section("Immune cells", ("cd29-b-cells", "microglia-models")),)
        ),
    )
    fields.update(changes)
    return Issue(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Result:
    """What a command did: its exit status, what it printed, and an exception that escaped it."""

    exit_code: int
    stdout: str
    stderr: str
    output: str  # stdout and stderr interleaved, as a terminal shows them
    exception: BaseException | None  # SystemExit for a non-zero exit, or an error that escaped


class _Captured(io.StringIO):
    """One of the command's streams: keeps its own text and copies it into the interleaved output."""

    def __init__(self, both: io.StringIO):
        super().__init__()
        self.both = both

    def write(self, text: str) -> int:
        self.both.write(text)
        return super().write(text)


@contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with `env` set (None: removed) for the block, then as it was."""
    saved = {name: os.environ.get(name) for name in env}
    try:
        _set_environment(env)
        yield
    finally:
        _set_environment(saved)


def _set_environment(env: Mapping[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def invoke(argv: list[str], env: Mapping[str, str | None] | None = None, input: str | None = None) -> Result:
    """`newsletter ARGV...` in this process, `input` typed at its prompts, its streams captured.

    An exception that escapes the command is kept in `exception` and its traceback printed to
    stderr, as the real command would show it (so `"Traceback" not in output` means something).
    """
    both = io.StringIO()
    out, err = _Captured(both), _Captured(both)
    streams = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(input or ""), out, err
    exception: BaseException | None = None
    try:
        with _environment(env or {}):
            code = main(argv)
    except SystemExit as exc:  # a command's own exit (the service stops on SIGTERM that way)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        exception, code = exc, 1
        err.write("".join(traceback.format_exception(exc)))
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
    if code and exception is None:
        exception = SystemExit(code)
    return Result(code, out.getvalue(), err.getvalue(), both.getvalue(), exception)


def run(workspace: Path, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """`newsletter --workspace WORKSPACE ARGS...` in this process, as a user would type it."""
    return invoke(["--workspace", str(workspace), *args], env=env)


def summary_files(workspace: Path) -> dict[str, str]:
    """Every file in summaries/ with its text."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((workspace / "summaries").iterdir())}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: compare two to prove nothing changed.

    Lock files are left out: they hold nothing of the user's.
    """
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }
