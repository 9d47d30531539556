"""The `newsletter` command line: each command parses its options and makes one library call."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from newsletter import __version__, content
from newsletter.workspace import Workspace


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
pass_workspace = click.make_pass_decorator(Workspace)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Workspace folder (holding newsletter.yaml). Default: found upward from here.",
)
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """Build and send the monthly newsletter of plain-language MS research summaries.

    \b
    Example:
        newsletter summaries list --since 2026-05-01
    """
    ctx.obj = Workspace(workspace)


@cli.group()
def summaries() -> None:
    """Look at the summary store (summaries/*.yaml).

    \b
    Example:
        newsletter summaries list --topic Microglia
    """


@summaries.command("list")
@click.option("--since", type=DATE, help="Only summaries published on or after this date.")
@click.option("--until", type=DATE, help="Only summaries published on or before this date.")
@click.option("--topic", help="Only summaries with this topic tag (any case).")
@pass_workspace
def summaries_list(ws: Workspace, since: date | None, until: date | None, topic: str | None):
    """List summaries, newest first.

    \b
    Example:
        newsletter summaries list --since 2026-05-01 --until 2026-05-31
    """
    ws.settings  # noqa: B018 - a broken newsletter.yaml is reported before anything else
    chosen = content.filter_summaries(content.load_summaries(ws.root).values(), since, until, topic)
    for s in chosen:
        kind = "teaser" if s.is_teaser else "full"
        flag = "  [needs review]" if s.needs_review else ""
        click.echo(f"{s.published}  {kind:<6}  {s.id}\n            {s.title}{flag}")
    click.echo(f"{len(chosen)} summaries")


def main() -> None:
    cli(prog_name="newsletter")
