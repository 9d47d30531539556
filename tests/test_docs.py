"""The README and the documentation site: short, linked, and naming only commands that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from newsletter.cli import main

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


@pytest.mark.parametrize("words", sorted({tuple(command_words(a)) for a in every_documented_command()}))
def test_every_command_the_docs_show_exists(words, capsys):
    assert main([*words, "--help"]) == 0, f"newsletter {' '.join(words)} is documented but does not exist"
