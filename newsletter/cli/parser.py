"""The command line's plumbing: the parser with one-line usage errors, command registration, output
and the confirmation prompt.

The standard library's argparse, not Click: it loads in ~2.5 ms where Click takes ~20 ms, the whole
start-up budget of a command (issue 16).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

from newsletter.errors import ExitStatus
from newsletter.text import printable

TYPE_CHECKING = False  # not typing's: `newsletter --help` need not load typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn, TypeAlias

    # What `add_subparsers` returns (private in argparse, public in its stubs): commands go in it.
    Commands: TypeAlias = argparse._SubParsersAction["Parser"]


# argparse asks gettext for the labels of each of the ~27 parsers ("options", "positional arguments"),
# and gettext looks for catalogues on disk at each call: ~70 µs a call, 5 ms of every start. The
# catalogues do not change while a command runs, so each label is looked up once.
argparse._ = functools.cache(argparse._)  # type: ignore[attr-defined]


class UsageError(Exception):
    """A usage mistake only a running command sees (options that contradict): exits 2, like a parse error."""


class Options:
    """A command's options as `register` gives them, added to its parser only when that command is
    parsed or its help shown: adding every command's options costs a few ms of each start (argparse
    makes a help formatter for each, and asks gettext for every label of every parser)."""

    def __init__(self) -> None:
        self.given: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        """As `ArgumentParser.add_argument`, later."""
        self.given.append((args, kwargs))


@functools.cache
def terminal_width() -> int:
    """shutil.get_terminal_size's columns (COLUMNS, else the terminal's, else 80), without importing
    shutil: it loads zlib, bz2 and lzma, a few ms of every start, as argparse's formatter asks for it."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with the descriptions as written (their examples keep their lines), as wide as the terminal."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ):
        width = terminal_width() - 2 if width is None else width  # argparse's own margin of 2
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """argparse with Click's habits: `-h/--help`, no abbreviated options, and a usage error in one line."""

    def __init__(self, options: Options | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # `--con` is not --concurrency: a typo stays an error
        super().__init__(add_help=False, **kwargs)
        self.options = options  # a command's, added at its first use; None: added here, by the caller
        if options is None:
            self.add_argument("-h", "--help", action="help", help="Show this message and exit.")

    def _add_options(self) -> None:
        if self.options is not None:
            options, self.options = self.options, None
            self.add_argument("-h", "--help", action="help", help="Show this message and exit.")
            for args, kwargs in options.given:
                self.add_argument(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._add_options()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_options()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_options()
        return super().format_help()

    def usage_line(self, message: str) -> str:
        """`newsletter send: error: --concurrency: 0 is not in 1..64 (see 'newsletter send --help')`."""
        # One line, and what was typed (an unrecognized argument) cannot restyle the terminal.
        text = printable(" ".join(message.removeprefix("argument ").split()))
        return f"{self.prog}: error: {with_suggestion(text)} (see '{self.prog} --help')"

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(self.usage_line(message) + "\n")
        raise SystemExit(ExitStatus.USAGE)


def with_suggestion(text: str) -> str:
    """An invalid choice with the nearest valid one named instead of them all, when one is near:
    `invalid choice: 'sned'; did you mean 'send'?`."""
    import re

    found = re.fullmatch(r"(.*invalid choice: '(.*?)') \(choose from (.*)\)", text)
    if found is None:
        return text
    import difflib

    choices = re.findall(r"'(.*?)'", found.group(3))
    near = difflib.get_close_matches(found.group(2), choices, n=1)
    return f"{found.group(1)}; did you mean '{near[0]}'?" if near else text


def describe(run: Callable[..., object]) -> str:
    """A command's help from its function's docstring: the first line, then the body (indented 4)."""
    first, _, body = (run.__doc__ or "").strip().partition("\n")
    return first + "\n" + "\n".join(line.removeprefix("    ") for line in body.split("\n"))


def summary(help_text: str) -> str:
    """The line that stands for a command in its group's list: the help's first paragraph."""
    return " ".join(help_text.split("\n\n")[0].split())


def command(commands: Commands, name: str, run: Callable[..., int | None]) -> Options:
    """Add the command `name` to a group; `run(workspace, args)` carries it out and returns its exit
    code. Returns what the command's options are added to."""
    help_text = describe(run)
    options = Options()
    parser = commands.add_parser(name, help=summary(help_text), description=help_text, options=options)
    parser.set_defaults(run=run, command_parser=parser)
    return options


def group(commands: Commands, name: str, help_text: str) -> Commands:
    """Add a group of commands (`newsletter summaries ...`); returns what its commands are added to."""
    parser = commands.add_parser(name, help=summary(help_text), description=help_text)
    parser.set_defaults(run=None, command_parser=parser)  # the group alone shows its help
    # prog given: argparse would otherwise format a usage line to find it, at every start.
    return parser.add_subparsers(title="commands", metavar="COMMAND", prog=parser.prog)


def echo(text: str = "", err: bool = False) -> None:
    """Print a line and flush it: a log or a pipe (a test reading the service's start) sees it at once."""
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def confirm(question: str) -> bool:
    """Ask `question [y/N]: ` on the terminal; only y or yes is yes. End of input raises EOFError."""
    while True:
        answer = input(f"{question} [y/N]: ").strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False
        echo("Error: invalid input; answer y or n", err=True)
