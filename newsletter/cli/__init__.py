"""The `newsletter` command line (Click): each command parses its options and makes one library call.

The commands live in one module per area (editing, readers, sending...); each module's `COMMANDS`
are added to the root group here. `main` is the console script.
"""

from __future__ import annotations

import click

from newsletter import __version__
from newsletter.cli import bounces, corrections, database, editing, readers, sending, service
from newsletter.cli.core import CONTEXT_SETTINGS, Group
from newsletter.cli.params import EXISTING_FOLDER

DESCRIPTION = """Build and send the monthly newsletter of plain-language MS research summaries.

\b
Example:
    newsletter summaries list --since 2026-05-01
"""


@click.group(cls=Group, help=DESCRIPTION, context_settings=CONTEXT_SETTINGS)
@click.version_option(
    __version__, "--version", prog_name="newsletter", message="%(prog)s, version %(version)s"
)
@click.option(
    "-w",
    "--workspace",
    type=EXISTING_FOLDER,
    metavar="DIRECTORY",
    help="Workspace folder (holding newsletter.yaml). Default: found upward from here.",
)
def cli(workspace: object) -> None:
    """The root group: `-w` is read by each command when it asks for its workspace (cli.core)."""


for area in (editing, readers, database, sending, corrections, bounces, service):
    for each in area.COMMANDS:
        cli.add_command(each)


def main(args: list[str] | None = None) -> None:
    """The console script: run the command in `args` (default: the process's) and exit with its status."""
    cli.main(args, prog_name="newsletter")
