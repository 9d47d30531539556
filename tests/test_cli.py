"""The command line's own behaviour: help, version, one-line usage errors with exit 2, the prompt.

What each command does is tested with its area (test_issues, test_delivery...); these are the habits
every command shares, through Click's CliRunner on the root group the console script runs.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from factories import invoke, run

from newsletter import __version__
from newsletter.cli import cli
from newsletter.errors import ExitStatus


def test_version():
    result = invoke(["--version"])

    assert result.exit_code == 0 and result.stdout == f"newsletter, version {__version__}\n"


def test_help_lists_each_command_with_one_line_and_keeps_the_examples():
    top = invoke(["--help"])
    send = invoke(["send", "-h"])

    assert top.exit_code == 0 and send.exit_code == 0
    assert "\n  send-due " in top.stdout and "Send every issue whose send_at has come" in top.stdout
    assert "-w, --workspace DIRECTORY" in top.stdout
    assert "  Example:\n      newsletter send 2026-06 --dry-run\n" in send.stdout
    assert "--concurrency INTEGER" in send.stdout and "--skip-invalid" not in send.stdout  # hidden
    assert "ISSUE  The issue's id (2026-06) or its file (issues/2026-06.yaml)." in send.stdout


def every_command(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += every_command(command, (*path, name))
    return found


@pytest.mark.parametrize("path", every_command(cli), ids=" ".join)
def test_every_command_has_h_and_an_example(path):
    result = invoke([*path, "-h"])

    assert result.exit_code == 0 and result.stdout.startswith(f"Usage: newsletter {' '.join(path)} ")
    assert "\n  Example:\n      " in result.stdout or "Commands:" in result.stdout


def test_a_group_or_nothing_at_all_shows_what_is_there_and_exits_2():
    bare = invoke([])
    group = invoke(["summaries"])

    assert bare.exit_code == group.exit_code == ExitStatus.USAGE
    assert bare.stdout == group.stdout == ""
    assert "summaries" in bare.stderr and "send-due" in bare.stderr
    assert group.stderr.startswith("Usage: newsletter summaries") and "  list  List summaries" in group.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["send", "2026-06", "--concurrency", "0"],
         "newsletter send: error: --concurrency: 0 is not in 1..64"),
        (["send", "2026-06", "--concurrency", "many"],
         "newsletter send: error: --concurrency: 'many' is not a whole number; use one in 1..64"),
        (["build"], "newsletter build: error: missing argument ISSUE"),
        (["db", "copy"], "newsletter db copy: error: missing option --to"),
        (["send", "2026-06", "--con", "2"],
         "newsletter send: error: no such option --con; did you mean --concurrency?"),
        (["send", "2026-06", "--fast"], "newsletter send: error: no such option --fast"),
        (["send", "2026-06", "--dryrun"],
         "newsletter send: error: no such option --dryrun; did you mean --dry-run?"),
        (["status", "-w", "elsewhere"],
         "newsletter status: error: no such option -w; -w/--workspace goes before the command: "
         "newsletter -w DIR status ..."),
        (["-w"], "newsletter: error: Option '-w' requires an argument."),
        (["send", "2026-06", "--dry-run=yes"],
         "newsletter send: error: Option '--dry-run' does not take a value."),
        (["sned"], "newsletter: error: no such command 'sned'; did you mean 'send'?"),
        (["db", "upgarde"], "newsletter db: error: no such command 'upgarde'; did you mean 'upgrade'?"),
        (["publish"], "newsletter: error: no such command 'publish'"),
        (["subscribers", "export", "--status", "unsubscibed"],
         "newsletter subscribers export: error: --status: invalid choice: 'unsubscibed'; did you mean "
         "'unsubscribed'?"),
        (["summaries", "list", "--since", "tomorrow"],
         "newsletter summaries list: error: --since: 'tomorrow' is not a date; use YYYY-MM-DD, e.g. "
         "2026-05-01"),
        (["summaries", "list", "--since", "2026-06-01", "--until", "2026-05-01"],
         "newsletter summaries list: error: --since: 2026-06-01 is after --until 2026-05-01; swap them"),
        (["send-due", "--now", "soon"],
         "newsletter send-due: error: --now: 'soon' is not a date-time; use e.g. 2026-06-02T09:00:00-04:00"),
        (["check", "drafts/2026-06.yaml"],
         "newsletter check: error: ISSUE: 'drafts/2026-06.yaml' is not an issue: give its id (2026-06) or "
         "issues/ID.yaml"),
        (["subscribers", "export", "--status", "gone"],
         "newsletter subscribers export: error: --status: invalid choice: 'gone'; choose from 'subscribed', "
         "'pending', 'unsubscribed', 'bounced', 'complained'"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_naming_the_command_and_exits_2(workspace: Path, args, line):
    result = run(workspace, *args)

    assert result.exit_code == ExitStatus.USAGE
    assert result.stdout == ""
    command = line.split(": error: ")[0]
    assert result.stderr == f"{line} (see '{command} --help')\n"


def test_what_was_typed_cannot_restyle_the_terminal(workspace: Path):
    result = run(workspace, "status", "2026-06", "\x1b]0;owned\x07")

    assert result.exit_code == ExitStatus.USAGE
    # Click's wording of an extra argument is its own; what matters: one line, the escape escaped.
    assert result.stderr.startswith("newsletter status: error: ") and result.stderr.count("\n") == 1
    assert "\\x1b]0;owned\\x07" in result.stderr and "\x1b" not in result.stderr


def test_the_workspace_must_be_a_folder_that_exists(tmp_path: Path):
    missing = invoke(["-w", str(tmp_path / "nowhere"), "status"])
    a_file = tmp_path / "newsletter.yaml"
    a_file.write_text("name: x\n", encoding="utf-8")
    not_a_folder = invoke(["--workspace", str(a_file), "status"])

    assert missing.exit_code == not_a_folder.exit_code == ExitStatus.USAGE
    assert missing.stderr == (
        f"newsletter: error: -w/--workspace: folder '{tmp_path / 'nowhere'}' does not exist"
        " (see 'newsletter --help')\n"
    )
    assert f"-w/--workspace: '{a_file}' is a file; give a folder" in not_a_folder.stderr


def test_a_problem_to_fix_is_one_error_line_and_exits_1(workspace: Path):
    result = run(workspace, "build", "2031-01")

    assert result.exit_code == ExitStatus.ERROR
    assert result.stderr == (
        "Error: issues/2031-01.yaml: no such issue (the issues: 2026-06);"
        " draft it with `newsletter new-issue 2031-01`\n"
    )


def test_no_answer_at_the_prompt_sends_nothing(workspace: Path, monkeypatch):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 2)
    monkeypatch.setattr("newsletter.cli.sending.at_terminal", lambda: True)  # as if someone were there

    unsure = run(
        workspace,
        "send",
        "2026-06",
        env={"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"},
    )  # input ends at once

    # Click 8.2's runner ends the input as a terminal does (Aborted!, exit 1); 8.1's answers "" (no, exit 5).
    aborted = unsure.stderr.endswith("Aborted!\n")
    assert (unsure.exit_code, aborted) in {(ExitStatus.ERROR, True), (ExitStatus.REFUSED, False)}
    assert "Send issue 2026-06 to 2 recipients? [y/N]: " in unsure.stdout
    assert "Traceback" not in unsure.output and not (workspace / "outbox").exists()


def test_yes_at_the_prompt_sends(workspace: Path, monkeypatch):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 2)
    monkeypatch.setattr("newsletter.cli.sending.at_terminal", lambda: True)

    sent = invoke(
        ["-w", str(workspace), "send", "2026-06"],
        env={"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"},
        input="y\n",
    )

    assert sent.exit_code == ExitStatus.OK, sent.output
    assert "Send issue 2026-06 to 2 recipients? [y/N]: " in sent.stdout and "Totals: 2 sent" in sent.stdout
    assert len(list((workspace / "outbox").rglob("*.eml"))) == 2


def test_no_at_the_prompt_exits_5_and_a_stray_answer_is_asked_again(workspace: Path, monkeypatch):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 2)
    monkeypatch.setattr("newsletter.cli.sending.at_terminal", lambda: True)

    secret = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}
    refused = invoke(["-w", str(workspace), "send", "2026-06"], env=secret, input="maybe\nno\n")

    assert refused.exit_code == ExitStatus.REFUSED, refused.output
    assert refused.stdout.count("Send issue 2026-06 to 2 recipients? [y/N]: ") == 2
    assert refused.stdout.endswith("Not sent.\n") and not (workspace / "outbox").exists()


def test_a_problem_to_fix_shows_control_characters_escaped(workspace: Path):
    result = run(workspace, "build", "2031-\x1b[31m")

    assert result.exit_code == ExitStatus.ERROR
    assert (
        result.stderr.startswith("Error: ") and "\\x1b[31m" in result.stderr and "\x1b" not in result.stderr
    )


def test_tab_completion_offers_the_commands_that_start_with_what_was_typed():
    env = {"_NEWSLETTER_COMPLETE": "bash_complete", "COMP_WORDS": "newsletter sen", "COMP_CWORD": "1"}

    result = invoke([], env=env)

    assert result.exit_code == 0 and result.stdout.split() == ["plain,send", "plain,send-due"]


def test_ctrl_c_is_one_line_aborted_without_a_traceback(workspace: Path, monkeypatch):
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("newsletter.store.content.load_summaries", interrupted)

    result = run(workspace, "summaries", "list")

    assert result.exit_code == ExitStatus.ERROR and result.stderr.strip() == "Aborted!"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--help"], ["summaries", "list"]], ids=" ".join)
def test_a_reader_that_left_the_pipe_gets_no_traceback(workspace: Path, args):
    import os
    import subprocess
    import sys

    reader, writer = os.pipe()
    os.close(reader)  # as `newsletter ... | head -1` once head has its line: every write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", "-w", str(workspace), *args],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)

    assert done.returncode == ExitStatus.ERROR and done.stderr == ""
