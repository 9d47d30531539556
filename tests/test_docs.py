"""The README and the documentation site: short, linked, and naming only commands that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from mkdocs_click._docs import make_command_docs

from newsletter.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def fenced_blocks(markdown: str, language: str = "sh") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, flags=re.S | re.M)


def commands_in(block: str) -> list[list[str]]:
    """Each `newsletter ...` line of a shell block, as arguments, comments and `&&` tails dropped."""
    found = []
    for line in block.splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words and words[0] in ("newsletter", ".venv/bin/newsletter"):
                found.append(words[1:])
    return found


def nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_the_readme_is_short_and_keeps_the_two_set_up_commands_exactly():
    text = README.read_text()

    assert len(text.splitlines()) <= 150
    blocks = fenced_blocks(text)
    assert blocks[0] == (
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/newsletter build 2026-06 "
        "&& .venv/bin/newsletter send 2026-06 --yes\n"
    )
    assert blocks[1] == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest\n"
    )
    assert ". .venv/bin/activate" in text  # `newsletter` on PATH before the month's commands


PAGES = [README, *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_that_exists(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())

    missing = [link for link in links if "://" not in link and not (page.parent / link).exists()]
    assert missing == []


def test_every_page_of_the_docs_folder_is_in_the_sites_navigation():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.SafeLoader)

    listed = set(nav_pages(config["nav"]))
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert on_disk == listed


def every_documented_command() -> list[list[str]]:
    found = []
    for page in [README, *DOCS.rglob("*.md")]:
        for block in fenced_blocks(page.read_text()):
            found.extend(commands_in(block))
    return found


def command_words(args: list[str]) -> list[str]:
    """The command and subcommand names of a documented line: the words before its first option."""
    words = []
    for arg in args:
        if arg.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", arg) or len(words) == 2:
            break
        words.append(arg)
    return words


def resolve(words: list[str]) -> click.Command | None:
    """The Click command these words name, or None; a word after a plain command is its argument."""
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group):
            return command
        found = command.get_command(click.Context(command), word)
        if found is None:
            return None
        command = found
    return command


@pytest.mark.parametrize("words", sorted({tuple(command_words(a)) for a in every_documented_command()}))
def test_every_command_the_docs_show_exists(words):
    assert resolve(list(words)) is not None, f"newsletter {' '.join(words)} is documented but does not exist"


def every_command(group: click.Group = cli, prefix: str = "newsletter") -> list[str]:
    found = []
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        assert command is not None
        found.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            found += every_command(command, f"{prefix} {name}")
    return found


def test_the_command_reference_documents_every_command_with_an_example():
    page = (DOCS / "commands.md").read_text()
    assert ":module: newsletter.cli\n    :command: cli\n" in page  # the reference is generated from the CLI
    reference = "\n".join(make_command_docs("newsletter", cli, depth=1, style="plain", list_subcommands=True))
    sections = re.split(r"^(#{3,}) ([a-z-]+)$", reference, flags=re.M)[1:]
    documented, path = {}, ["newsletter"]
    for level, name, body in zip(sections[::3], sections[1::3], sections[2::3], strict=True):
        path = [*path[: len(level) - 2], name]
        documented[" ".join(path)] = body

    assert sorted(documented) == sorted(every_command())
    for name, body in documented.items():
        plain = not isinstance(resolve(name.split()[1:]), click.Group)
        assert not plain or "Example:" in body, f"{name}: its help has no example"
