"""The command line's plumbing on Click: one-line usage errors, "did you mean" for commands, help
that keeps its examples, arguments with help, and the workspace each command is given.

A command is a plain function `run(ws, **options)` decorated with `command(...)`; it imports the
library it calls inside its body (as MkDocs's commands do), so `newsletter --help` loads none of it.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import click

from newsletter.errors import ExitStatus
from newsletter.text import printable

if TYPE_CHECKING:
    from newsletter.store.workspace import Workspace

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UsageError(click.UsageError):
    """A usage mistake, shown as one line naming the command and its help, exit 2:
    `newsletter send: error: --concurrency: 0 is not in 1..64 (see 'newsletter send --help')`."""

    exit_code = ExitStatus.USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        path = self.ctx.command_path if self.ctx is not None else "newsletter"
        # One line, and what was typed (an unknown argument) cannot restyle the terminal.
        text = printable(self.format_message())
        click.echo(f"{path}: error: {text} (see '{path} --help')", file=file, err=file is None)


def one_line(error: click.UsageError) -> UsageError:
    """Click's usage error in this tool's words: the option or argument first, then what is wrong.
    Our own words where Click's changed between its versions, so scripts and tests can rely on them."""
    if isinstance(error, UsageError):
        return error
    if isinstance(error, click.NoSuchOption):
        message = f"no such option {error.option_name}"
        near = _near_options(error.option_name, error.ctx)
        if error.option_name in ("-w", "--workspace") and error.ctx is not None and error.ctx.parent:
            message += (
                f"; -w/--workspace goes before the command: newsletter -w DIR {error.ctx.info_name} ..."
            )
        elif near:
            message += f"; did you mean {' or '.join(near)}?"
    elif isinstance(error, click.MissingParameter) and error.param is not None:
        message = f"missing {error.param.param_type_name} {_name(error.param)}"
    elif isinstance(error, click.BadParameter) and error.param is not None:
        message = f"{_name(error.param)}: {error.message}"
    else:  # Click's words, the same from 8.1 to 8.5: "Option '-w' requires an argument."
        message = error.format_message()
    return UsageError(message, error.ctx)


def _near_options(typed: str, ctx: click.Context | None) -> list[str]:
    """The options of the command that `typed` most likely meant: those it begins, else one near it."""
    if ctx is None:
        return []
    names = [name for p in ctx.command.get_params(ctx) if isinstance(p, click.Option) for name in p.opts]
    started = [name for name in names if name.startswith(typed) and typed.startswith("--")]
    return started or difflib.get_close_matches(typed, names, n=1, cutoff=0.75)


def _name(param: click.Parameter) -> str:
    """How an error names a parameter: `-w/--workspace` for an option, `ISSUE` for an argument."""
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    return param.human_readable_name


# Click 8.5 lists arguments with their help itself; before it, `Command` and `Argument` do.
NATIVE_ARGUMENT_HELP = hasattr(click.Command, "format_arguments")


class Command(click.Command):
    """A command whose help lists its arguments, each with its help, before the options."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (p.human_readable_name, p.help or "") for p in self.get_params(ctx) if isinstance(p, Argument)
        ]
        if rows and not NATIVE_ARGUMENT_HELP:
            with formatter.section("Positional arguments"):
                formatter.write_dl(rows)
        super().format_options(ctx, formatter)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return parse_in_one_line(super().parse_args, ctx, args)


def parse_in_one_line(
    parse: Callable[[click.Context, list[str]], list[str]], ctx: click.Context, args: list[str]
) -> list[str]:
    """`parse(ctx, args)` with its usage errors in one line naming this command (Click leaves some
    errors of its parser without a context)."""
    try:
        return parse(ctx, args)
    except click.UsageError as error:
        if error.ctx is None:
            error.ctx = ctx
        raise one_line(error) from None


class Group(click.Group):
    """A group of commands: usage errors in one line, a near command suggested, and the commands
    listed (on standard error, exit 2) when none is given."""

    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        kwargs.setdefault("no_args_is_help", False)  # handled in parse_args, the same on every Click 8
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # `newsletter` or `newsletter db` alone
            click.echo(ctx.get_help(), err=True)
            ctx.exit(ExitStatus.USAGE)
        return parse_in_one_line(super().parse_args, ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # a subcommand's parse error, or one its body raised
            raise one_line(error) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not name.startswith("-") and not ctx.resilient_parsing:
            near = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise UsageError(f"no such command '{name}'{hint}", ctx)
        return super().resolve_command(ctx, args)


class Argument(click.Argument):
    """A positional argument with a help text (Click's own have one only from 8.5), listed in the help."""

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        if NATIVE_ARGUMENT_HELP:
            kwargs["help"] = help
        super().__init__(*args, **kwargs)
        self.help = help


def argument(*names: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`click.argument` with `help=`."""
    return click.argument(*names, cls=Argument, **kwargs)


def describe(run: Callable[..., object]) -> str:
    """A command's help from its function's docstring, its `Example:` lines kept as written."""
    paragraphs = inspect.cleandoc(run.__doc__ or "").split("\n\n")
    # \b: Click's mark for "do not rewrap this paragraph".
    return "\n\n".join("\b\n" + p if p.startswith("Example:") else p for p in paragraphs)


def group(name: str, help_text: str) -> Group:
    """A group of commands (`newsletter summaries ...`)."""
    return Group(name, help=inspect.cleandoc(help_text).replace("\n\nExample:", "\n\n\b\nExample:"))


def command(
    name: str, parent: click.Group | None = None
) -> Callable[[Callable[..., int | None]], click.Command]:
    """Make `run(ws, **options)` the command `name` (added to `parent` if given). `ws` is the
    workspace, found when the command first reads it; a non-zero return is the exit status."""

    def decorate(run: Callable[..., int | None]) -> click.Command:
        @functools.wraps(run)
        def callback(**options: Any) -> None:
            status = run(workspace(), **options)
            if status:
                click.get_current_context().exit(status)

        made = click.command(name, cls=Command, help=describe(run), context_settings=CONTEXT_SETTINGS)(
            callback
        )
        if parent is not None:
            parent.add_command(made)
        return made

    return decorate


def workspace() -> Workspace:
    """The workspace of the running command: `-w DIRECTORY`, else found upward from here."""
    from newsletter.store.workspace import Workspace  # here: `--help` need not load it

    return Workspace(click.get_current_context().find_root().params.get("workspace"))


def echo(text: str = "", err: bool = False) -> None:
    """Print a line and flush it: a log or a pipe (a test reading the service's start) sees it at once."""
    click.echo(text, err=err)


def confirm(question: str) -> bool:
    """Ask `question [y/N]: ` on the terminal; only y or yes is yes. No answer at all aborts."""
    return click.confirm(question, default=False)
