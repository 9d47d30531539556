"""`newsletter init`: one's own workspace from prompts or options, and nothing of the sample in it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from factories import invoke

from newsletter.store.config import load_settings
from newsletter.store.content import load_summaries
from newsletter.store.topics import load_taxonomy

OPTIONS = [
    "--name", "MS Research Monthly",
    "--site-url", "https://ms.example.net",
    "--sender-email", "news@ms.example.net",
    "--postal-address", "MS Research Monthly, 1 Main Street, Town",
    "--timezone", "Europe/Paris",
]  # fmt: skip


def test_init_with_options_writes_a_workspace_that_loads_with_no_content_and_no_readers(tmp_path: Path):
    result = invoke(["init", str(tmp_path / "mine"), "--yes", *OPTIONS])

    assert result.exit_code == 0, result.output
    ws = tmp_path / "mine"
    settings = load_settings(ws)
    assert (settings.name, settings.site_url, settings.timezone) == (
        "MS Research Monthly",
        "https://ms.example.net",
        "Europe/Paris",
    )
    assert (settings.sender.name, settings.sender.email) == ("MS Research Monthly", "news@ms.example.net")
    assert settings.list_id == "newsletter.ms.example.net"
    assert settings.require_approval  # new workspaces send only approved issues unattended
    assert settings.unsubscribe_url == "https://ms.example.net/newsletter/unsubscribe?token={token}"
    assert load_summaries(ws) == {} and load_taxonomy(ws).sections
    assert sorted(p.name for p in ws.iterdir()) == [
        ".gitignore", "issues", "newsletter.yaml", "subscribers", "summaries", "templates", "topics.yaml",
    ]  # fmt: skip
    assert all(not any((ws / d).iterdir()) for d in ("issues", "subscribers", "summaries", "templates"))
    assert "/.newsletter/" in (ws / ".gitignore").read_text()
    assert "newsletter import --feed feed.xml" in result.output
    listed = invoke(["-w", str(ws), "subscribers", "list"])
    assert listed.exit_code == 0 and "0 subscribers" in listed.output


def test_every_key_of_the_settings_is_explained_by_a_comment(tmp_path: Path):
    invoke(["init", str(tmp_path / "mine"), "--yes"])
    lines = (tmp_path / "mine" / "newsletter.yaml").read_text().splitlines()

    for number, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):  # a top-level key
            before = lines[number - 1]
            assert before.startswith("#"), f"{line!r} has no comment above it"
    assert yaml.safe_load("\n".join(lines))["import"]["ignore_categories"][0] == "Research"


def test_init_asks_each_question_with_a_default(tmp_path: Path):
    typed = "My News\nhttps://ms.example.net\n\n\nOne Street, Town\nEurope/Paris\n\n"
    result = invoke(["init", str(tmp_path / "asked")], input=typed)

    assert result.exit_code == 0, result.output
    settings = load_settings(tmp_path / "asked")
    assert (settings.name, settings.sender.name, settings.sender.email) == (
        "My News",
        "My News",
        "newsletter@ms.example.net",
    )
    assert "The sender's address [newsletter@ms.example.net]" in result.output


@pytest.mark.parametrize("inside", ["newsletter.yaml", "notes.txt"])
def test_init_refuses_a_folder_that_holds_anything(tmp_path: Path, inside: str):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / inside).write_text("mine\n")

    result = invoke(["init", str(tmp_path / "taken"), "--yes"])

    assert result.exit_code == 1 and "init writes only into a new or empty folder" in result.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == [inside]


def test_bad_answers_are_all_named_and_nothing_is_written(tmp_path: Path):
    result = invoke(
        ["init", str(tmp_path / "new"), "--yes", "--site-url", "http://x", "--timezone", "Mars/Base"]
    )

    assert result.exit_code == 1
    assert "--site-url: expected an absolute https URL" in result.output
    assert "--timezone: unknown time zone 'Mars/Base'" in result.output
    assert list(tmp_path.iterdir()) == []
