"""Workspace settings: finding newsletter.yaml and reporting every problem in it at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import invoke

from newsletter.errors import ConfigError
from newsletter.store.config import load_settings
from newsletter.store.workspace import find_workspace


def test_sample_settings_load(workspace: Path):
    settings = load_settings(workspace)
    assert settings.name == "MS Research Roundup"
    assert settings.sender.domain == "msresearch.example.org"
    assert settings.provider == "outbox"
    assert "{token}" in settings.unsubscribe_url
    assert settings.delivery.concurrency == 2


def test_workspace_is_found_from_a_subfolder(workspace: Path):
    sub = workspace / "summaries"
    assert find_workspace(sub) == workspace


def test_no_workspace_says_what_to_do(tmp_path: Path):
    with pytest.raises(ConfigError, match="pass --workspace DIR"):
        find_workspace(tmp_path)


def test_every_problem_is_reported_at_once(tmp_path: Path):
    (tmp_path / "newsletter.yaml").write_text(
        "name: Roundup\n"
        "site_url: http://insecure.example.org\n"
        "summary_url: https://example.org/research/\n"
        "sender:\n"
        "  name: Roundup\n"
        "  email: not-an-address\n"
        "postal_address: 1 Main St\n"
        "timezone: Mars/Olympus\n"
        "list_id: roundup.example.org\n"
        "unsubscribe: {url: 'https://example.org/u/{token}'}\n"
        "preferences_url: https://example.org/p/{token}\n"
        "smtp: {port: 99999, password: hunter2}\n"
        "colour: blue\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    message = caught.value.message
    assert "7 problems" in message
    assert "newsletter.yaml:2: site_url: expected the site's absolute https URL" in message
    assert "newsletter.yaml:3: summary_url: the URL pattern must contain {slug}" in message
    assert "newsletter.yaml:6: sender.email: expected an email address" in message
    assert "newsletter.yaml:8: timezone: unknown time zone 'Mars/Olympus'" in message
    assert "newsletter.yaml:12: smtp.port: expected a port number" in message
    assert "smtp.password: secrets never go in files: set NEWSLETTER_SMTP_PASSWORD" in message
    assert "hunter2" not in message
    assert "newsletter.yaml:13: colour: unknown field" in message


def test_invalid_yaml_names_the_line(tmp_path: Path):
    (tmp_path / "newsletter.yaml").write_text("name: Roundup\nsender: [unclosed\n")
    result = invoke(["--workspace", str(tmp_path), "build", "2026-06"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: newsletter.yaml:")
    assert "invalid YAML" in result.output
    assert "Traceback" not in result.output


def settings_with(workspace: Path, text: str) -> str:
    """The problem message for the sample settings with `text` appended (a later key wins no tie:
    yamltext refuses duplicate keys, so `text` adds new top-level keys only)."""
    path = workspace / "newsletter.yaml"
    path.write_text(path.read_text() + text)
    with pytest.raises(ConfigError) as caught:
        load_settings(workspace)
    return caught.value.message


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
@pytest.mark.parametrize(
    ("block", "key"),
    [
        ("service: {read_timeout: VALUE}", "service.read_timeout"),
        ("bounces: {address: b@example.org, pause_rate: VALUE}", "bounces.pause_rate"),
        (
            "bounces: {address: b@example.org, imap: {host: h, username: u, timeout: VALUE}}",
            "bounces.imap.timeout",
        ),
        ("logo: {src: 'https://e.org/l.png', alt: L, width: VALUE, height: 10}", "logo.width"),
    ],
)
def test_non_finite_numbers_are_refused_in_every_numeric_setting(workspace: Path, value, block, key):
    message = settings_with(workspace, block.replace("VALUE", value) + "\n")
    assert f": {key}: expected" in message


@pytest.mark.parametrize("value", [".nan", ".inf"])
@pytest.mark.parametrize("key", ["rate", "max_attempts", "concurrency"])
def test_non_finite_delivery_numbers_are_refused(workspace: Path, value, key):
    path = workspace / "newsletter.yaml"
    path.write_text(path.read_text().replace("  rate: 10\n", "").replace(f"  {key}: ", f"  _{key}: ") + "")
    text = path.read_text().replace("delivery:\n", f"delivery:\n  {key}: {value}\n")
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(workspace)
    assert f": delivery.{key}: expected" in caught.value.message


def test_an_unknown_key_says_what_was_meant(workspace: Path):
    message = settings_with(workspace, "servce: {threads: 4}\n")
    assert "servce: unknown field; did you mean service?" in message


def test_every_section_is_checked_in_one_pass(workspace: Path):
    message = settings_with(
        workspace,
        "service: {threads: 0}\n"
        "bounces: {address: b+x@example.org, imap: {host: h, username: u, password: pw}}\n"
        "database: 'postgresql+psycopg:/u:hunter2@h/db'\n",
    )
    assert "4 problems" in message
    assert "service.threads: expected" in message
    assert "bounces.imap.password: secrets never go in files: set NEWSLETTER_BOUNCE_PASSWORD" in message
    assert "database: 'postgresql+psycopg:/***@h/db' is not a database URL" in message
    assert "hunter2" not in message and "pw" not in message.replace("postgresql", "")
