"""The `newsletter` command line: each command parses its options and makes one library call.

The commands live in one module per area (editing, readers, sending); this one holds the group.
"""

from __future__ import annotations

from pathlib import Path

import click

from newsletter import __version__
from newsletter.store.workspace import Workspace


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


def main() -> None:
    cli(prog_name="newsletter")


# Registered last: each module adds its commands to the group above.
from newsletter.cli import bounces, editing, readers, sending, service  # noqa: E402, F401
