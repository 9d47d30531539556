"""Hostile workspace files: each is refused with one line naming the file, and nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import run, snapshot

BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "summaries/bomb.yaml: invalid YAML: more than 200000 values once aliases are expanded"),
        (
            "title: One\ntitle: Two\n",
            "summaries/bomb.yaml:2: duplicate key 'title' (first on line 1); keep one",
        ),
        (
            'title: "A bell\\a in the title"\n',
            "summaries/bomb.yaml:1: title: control character U+0007 in the text; remove it",
        ),
    ],
)
def test_hostile_yaml_in_the_summary_store_is_refused_in_one_line(workspace: Path, text: str, message: str):
    (workspace / "summaries" / "bomb.yaml").write_text(text)
    before = snapshot(workspace)
    line = one_line_error(run(workspace, "summaries", "list"))
    assert line == f"Error: {message}"
    assert snapshot(workspace) == before


def test_deep_nesting_is_refused_in_one_line_with_the_file_and_line(workspace: Path):
    (workspace / "summaries" / "bomb.yaml").write_text("a: " + "[" * 5000 + "]" * 5000)
    before = snapshot(workspace)
    line = one_line_error(run(workspace, "summaries", "list"))
    # PyYAML 6.0.4 refuses it in its own words before our depth check does: the wording is theirs.
    assert line.startswith("Error: summaries/bomb.yaml:1: invalid YAML: ")
    assert snapshot(workspace) == before


def test_an_escape_sequence_in_a_subject_never_reaches_a_header(workspace: Path, tmp_path: Path):
    issue = workspace / "issues" / "2026-06.yaml"
    issue.write_text(issue.read_text().replace("subject: ", 'subject: "\\e]0;owned\\a" #', 1))
    line = one_line_error(run(workspace, "build", "2026-06", "--out", str(tmp_path / "out")))
    assert "issues/2026-06.yaml:4: subject: control character U+001B in the text; remove it" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_summary_that_is_not_a_regular_file_is_not_read(workspace: Path, kind: str):
    target = workspace / "summaries" / "odd.yaml"
    if kind == "fifo":
        os.mkfifo(target)  # reading it would wait forever for a writer
    else:
        target.symlink_to("/dev/zero")  # reading it would never end
    line = one_line_error(run(workspace, "summaries", "list"))
    assert line == "Error: summaries/odd.yaml: not a regular file; give a file, not a pipe, device or folder"


def test_an_oversized_file_is_refused_without_reading_it_all(workspace: Path):
    with open(workspace / "summaries" / "huge.yaml", "wb") as handle:
        handle.truncate(5 * 1024 * 1024)
    line = one_line_error(run(workspace, "summaries", "list"))
    assert line == "Error: summaries/huge.yaml: larger than 4 MB; is this the right file?"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_output_folder_is_one_line(workspace: Path, tmp_path: Path):
    out = tmp_path / "out"
    (out / "2026-06").mkdir(parents=True)
    (out / "2026-06").chmod(0o500)
    try:
        line = one_line_error(run(workspace, "build", "2026-06", "--out", str(out)))
    finally:
        (out / "2026-06").chmod(0o700)
    assert "cannot write (Permission denied)" in line


def test_an_output_path_that_is_a_file_is_one_line(workspace: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "2026-06").write_text("not a folder")
    line = one_line_error(run(workspace, "build", "2026-06", "--out", str(out)))
    assert line.startswith(f"Error: {out / '2026-06' / 'email.html'}: cannot write (")
    assert (out / "2026-06").read_text() == "not a folder"


def test_an_error_quoting_a_hostile_file_name_is_printed_escaped(workspace: Path):
    (workspace / "summaries" / "\x1b]0;owned\x07.yaml").write_text("title: [")
    result = run(workspace, "summaries", "list")
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b]0;owned\\x07" in result.output


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Line one\n{{ 1 // 0 }}\n", "templates/email.txt:2: template error: ZeroDivisionError"),
        (
            "{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}\n",
            "the template calls itself without end",
        ),
        (
            "Fine\n{{ issue.no_such_field.deeper }}\n",
            "templates/email.txt:2: 'newsletter.store.models.Issue object'",
        ),
    ],
)
def test_a_template_that_fails_while_rendering_is_one_line_with_its_place(
    workspace: Path, tmp_path: Path, template: str, message: str
):
    (workspace / "templates").mkdir(exist_ok=True)
    (workspace / "templates" / "email.txt").write_text(template)
    line = one_line_error(run(workspace, "build", "2026-06", "--out", str(tmp_path / "out")))
    assert message in line
    assert not (tmp_path / "out").exists()


def test_a_template_that_is_not_utf8_is_one_line(workspace: Path, tmp_path: Path):
    (workspace / "templates").mkdir(exist_ok=True)
    (workspace / "templates" / "email.txt").write_bytes(b"Caf\xe9 {{ issue.title }}\n")
    line = one_line_error(run(workspace, "build", "2026-06", "--out", str(tmp_path / "out")))
    assert line == "Error: template email.txt: not UTF-8 text; save it as UTF-8"
