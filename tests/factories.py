"""Shared builders for tests: summaries and issues as values, the CLI on a workspace, file snapshots.

Imported by its bare name (`from factories import summary`), like `sample_workspace`.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from newsletter.cli import cli
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


# Click 8.2 keeps stderr apart and `output` interleaved by itself; 8.1 needs mix_stderr=False for
# stderr, and then its `output` is stdout alone.
_SEPARATE_STDERR = "mix_stderr" in inspect.signature(CliRunner.__init__).parameters


def invoke(argv: list[str], env: Mapping[str, str | None] | None = None, input: str | None = None) -> Result:
    """`newsletter ARGV...` through Click's CliRunner, `input` typed at its prompts, its streams captured.

    An exception that escapes the command is kept in `exception` and its traceback added to stderr,
    as the real command would show it (so `"Traceback" not in output` means something).
    """
    runner = CliRunner(mix_stderr=False) if _SEPARATE_STDERR else CliRunner()  # type: ignore[call-arg]
    done = runner.invoke(cli, argv, input=input, env=dict(env or {}), prog_name="newsletter")
    stdout, stderr = done.stdout, done.stderr
    output = stdout + stderr if _SEPARATE_STDERR else done.output
    exception = done.exception
    if exception is not None and not isinstance(exception, SystemExit):
        trace = "".join(traceback.format_exception(exception))
        stderr, output = stderr + trace, output + trace
    return Result(done.exit_code, stdout, stderr, output, exception)


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
