"""Commands load only what they use: `--help` nothing heavy, `status` no renderer, `summaries list` no
database, and no command loads Alembic while the schema is current.

Guarded by which modules load in a fresh interpreter (`-X importtime` of the real command), not by
timing, so the test says the same thing on a busy machine as on an idle one. bench/bench_startup.py
gives the times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# What `--help` must not pay for: each is loaded by the commands that use it, when they run.
HEAVY = (
    "yaml", "jinja2", "premailer", "cssutils", "requests", "lxml", "mjml", "sqlalchemy", "alembic",
    "boto3", "botocore", "dkim", "email_validator", "email.headerregistry", "email.message",
    "smtplib", "sqlite3", "flask", "newsletter.importers", "newsletter.render",
    "newsletter.mail", "newsletter.providers", "newsletter.delivery", "newsletter.db.engine",
    "newsletter.db.state", "newsletter.db.audience", "newsletter.store.workspace",
    "newsletter.store.config", "newsletter.store.content",
)  # fmt: skip
RENDERER = ("jinja2", "mjml", "premailer", "cssutils", "newsletter.render")


def heavy_among(loaded: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(name for name in loaded for h in heavy if name == h or name.startswith(h + "."))


def modules_loaded_by_command(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`python -m newsletter ARGS...` in a fresh interpreter: what it printed, every module it loaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "newsletter", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    loaded.discard("imported package")  # importtime's header line
    return done, loaded


LOADED = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def modules_loaded_by(module: str) -> set[str]:
    """The modules a fresh interpreter loads for `import module`."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(done.stdout))


def test_importing_the_cli_loads_click_and_nothing_heavy():
    loaded = modules_loaded_by("newsletter.cli")
    assert "click" in loaded and "newsletter.cli.sending" in loaded  # the commands are all registered
    assert heavy_among(loaded) == []


def test_help_lists_every_command_and_loads_nothing_heavy(tmp_path):
    done, loaded = modules_loaded_by_command("--help", cwd=tmp_path)  # no workspace here: none looked for

    assert done.returncode == 0, done.stderr
    for command in ("summaries", "build", "send", "send-due", "subscribers"):
        assert f"\n  {command} " in done.stdout
    assert heavy_among(loaded) == []


def test_the_guard_sees_a_heavy_import():
    # The same check over a module that does load YAML: the guard is not blind.
    assert "yaml" in heavy_among(modules_loaded_by("newsletter.store.yamltext"))


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory) -> Path:
    """A copy of the sample workspace with its state database current and the sample issue sent
    (to the outbox), so `status` has a run to show."""
    from sample_workspace import copy_sample_workspace

    root = copy_sample_workspace(tmp_path_factory.mktemp("startup") / "ws")
    done, loaded = modules_loaded_by_command("-w", str(root), "db", "upgrade", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "alembic" in loaded  # creating the schema is Alembic's job: the guard below is not blind
    sent = subprocess.run(
        [sys.executable, "-m", "newsletter", "-w", str(root), "send", "2026-06", "--provider=outbox", "-y"],
        env={**os.environ, "NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    return root


@pytest.mark.parametrize(
    "args",
    [("status", "2026-06"), ("status", "--json"), ("subscribers", "list"), ("db", "status")],
    ids=" ".join,
)
def test_commands_on_the_state_database_load_no_renderer_and_no_alembic(upgraded, args):
    done, loaded = modules_loaded_by_command("-w", str(upgraded), *args, cwd=upgraded)

    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" in loaded  # they did read the database
    assert heavy_among(loaded, (*RENDERER, "alembic")) == []


def test_summaries_list_loads_no_database(upgraded):
    done, loaded = modules_loaded_by_command("-w", str(upgraded), "summaries", "list", cwd=upgraded)

    assert done.returncode == 0 and done.stdout.endswith(" summaries\n"), done.stderr
    assert heavy_among(loaded, ("sqlalchemy", "alembic", *RENDERER)) == []


def test_build_loads_no_database(upgraded, tmp_path):
    # The proof is addressed to a made-up reader: building it needs the renderer, not the readers.
    out = tmp_path / "out"
    done, loaded = modules_loaded_by_command(
        "-w", str(upgraded), "build", "2026-06", "--out", str(out), cwd=upgraded
    )

    assert done.returncode == 0 and (out / "2026-06" / "email.html").is_file(), done.stderr
    assert "premailer" in loaded  # it did render
    assert heavy_among(loaded, ("sqlalchemy", "alembic")) == []


def test_the_head_revision_the_fast_path_trusts_is_alembics():
    from newsletter.db import revisions

    assert revisions.head() == revisions.head_revision()
