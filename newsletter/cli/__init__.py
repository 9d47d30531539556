"""The `newsletter` command line: each command parses its options and makes one library call.

The commands live in one module per area (editing, readers, sending...); each module's `register`
adds its parsers. This one holds the top-level parser and `main`, the console script.
"""

from __future__ import annotations

import os
import sys

from newsletter import __version__
from newsletter.cli import bounces, database, editing, readers, sending, service
from newsletter.cli.params import existing_folder
from newsletter.cli.parser import Parser, UsageError, echo
from newsletter.errors import ExitStatus, NewsletterError

DESCRIPTION = """Build and send the monthly newsletter of plain-language MS research summaries.

Example:
    newsletter summaries list --since 2026-05-01
"""


def build_parser() -> Parser:
    """The whole command line: the global options, then every command of every area."""
    parser = Parser(prog="newsletter", description=DESCRIPTION)
    parser.set_defaults(run=None, command_parser=parser)  # `newsletter` alone shows its help
    parser.add_argument(
        "--version",
        action="version",
        version=f"newsletter, version {__version__}",
        help="Show the version and exit.",
    )
    parser.add_argument(
        "-w",
        "--workspace",
        type=existing_folder,
        metavar="DIRECTORY",
        help="Workspace folder (holding newsletter.yaml). Default: found upward from here.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", prog=parser.prog)
    for area in (editing, readers, database, sending, bounces, service):  # the order of `--help`
        area.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command in `argv` (default: the process's arguments) and return its exit status."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said by the command they were given to, not by `newsletter`
            args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return int(done.code or 0)
    if args.run is None:  # `newsletter` or `newsletter summaries` alone: show what is there
        args.command_parser.print_help(sys.stderr)
        return ExitStatus.USAGE
    from newsletter.store.workspace import Workspace  # here: `--help` need not load it

    try:
        return args.run(Workspace(args.workspace), args) or ExitStatus.OK
    except UsageError as exc:
        echo(args.command_parser.usage_line(str(exc)), err=True)
        return ExitStatus.USAGE
    except NewsletterError as exc:
        echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except (KeyboardInterrupt, EOFError):  # Ctrl-C or no answer at a prompt: stop, without a traceback
        echo("\nAborted!", err=True)
        return ExitStatus.ERROR
    except BrokenPipeError:  # `newsletter status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush goes nowhere
        return ExitStatus.ERROR
