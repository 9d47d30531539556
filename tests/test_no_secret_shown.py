"""No password in any output: every provider and database URL shape, however mistyped, through every
command that prints one (issue 26 item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from delivery_helpers import write_issue, write_readers
from factories import invoke

PASSWORD = "Pw0rd-hunter2-Zq"
SECRET_ENV = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}

PROVIDERS = [
    f"smtp://user:{PASSWORD}@mail.example.org:587",
    f"smtp:/user:{PASSWORD}@mail.example.org",
    f"smtps:/user:{PASSWORD}@mail.example.org",
    f"smtp:user:{PASSWORD}@mail.example.org",
    f"smtp://user:{PASSWORD}@mail.example.org:notaport",
    f"smtps://user:{PASSWORD}@mail.example.org:99999",
    f"ses://AKID:{PASSWORD}@eu-west-1",
    f"ses:/AKID:{PASSWORD}@eu-west-1",
    f"https://editor:{PASSWORD}@mail.example.org/",
    f"smtp://mail.example.org:587?password={PASSWORD}",
]
DATABASES = [
    f"postgresql+psycopg://u:{PASSWORD}@db.example.org/nl",
    f"postgresql+psycopg:/u:{PASSWORD}@db.example.org/nl",
    f"postgresql+psycopg:u:{PASSWORD}@db.example.org/nl",
    f"postgresql://u:{PASSWORD}@db.example.org:notaport/nl",
    f"postgresql://u:{PASSWORD}@db.example.org:99999/nl",
    f"postgres://u:{PASSWORD}@[::1/nl",
    f"mysql://u:{PASSWORD}@db.example.org/nl",
    f"sqlite:/u:{PASSWORD}@state.sqlite3",
]
# What prints a provider or a database: the proofing commands, a send's plan, the status, the scheduler.
COMMANDS = [
    ["build", "2026-06"],
    ["check", "2026-06"],
    ["send", "2026-06", "--dry-run"],
    ["status", "2026-06"],
    ["send-due", "--now", "2026-06-02T09:05:00-04:00"],
]


def set_key(workspace: Path, key: str, value: str) -> None:
    path = workspace / "newsletter.yaml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}:")]
    path.write_text("\n".join(lines) + f"\n{key}: '{value}'\n")


@pytest.fixture
def ready(workspace: Path) -> Path:
    write_issue(workspace, send_at="2026-06-02T09:00:00-04:00")
    write_readers(workspace, 2)
    return workspace


def assert_hidden(result, where: str) -> None:
    shown = result.stdout + result.stderr
    assert PASSWORD not in shown, f"{where}: {shown}"
    assert "Traceback" not in shown, f"{where}: {shown}"


@pytest.mark.parametrize("url", PROVIDERS)
def test_a_provider_url_never_shows_its_password(ready: Path, url: str):
    given = invoke(["-w", str(ready), "send", "2026-06", "--dry-run", "--provider", url], env=SECRET_ENV)
    assert_hidden(given, f"--provider {url}")
    set_key(ready, "provider", url)
    for args in COMMANDS:
        assert_hidden(invoke(["-w", str(ready), *args], env=SECRET_ENV), f"{args} with provider: {url}")


@pytest.mark.parametrize("url", DATABASES)
@pytest.mark.parametrize("where", ["newsletter.yaml", "NEWSLETTER_DATABASE_URL"])
def test_a_database_url_never_shows_its_password(ready: Path, url: str, where: str):
    env = dict(SECRET_ENV)
    if where == "newsletter.yaml":
        set_key(ready, "database", url)
    else:
        env["NEWSLETTER_DATABASE_URL"] = url
    for args in COMMANDS:
        result = invoke(["-w", str(ready), *args], env=env)
        assert_hidden(result, f"{args} with {where}: {url}")
        if args[0] != "build":  # build needs no database
            assert result.exit_code != 0, result.output
    assert not (ready / "u:").exists() and not list(ready.glob("*hunter2*"))  # never a file path
