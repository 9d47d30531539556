"""Commands start at once: `import newsletter.cli` loads argparse and the command modules, nothing heavy.

Guarded by which modules load (a fresh interpreter's sys.modules), not by timing, so the test says
the same thing on a busy machine as on an idle one. bench/bench_startup.py gives the times.
"""

from __future__ import annotations

import json
import subprocess
import sys

# What `--help` must not pay for: each is loaded by the commands that use it, when they run.
HEAVY = (
    "click", "yaml", "jinja2", "premailer", "cssutils", "requests", "lxml", "mjml", "sqlalchemy", "alembic",
    "boto3", "botocore", "dkim", "email_validator", "email.headerregistry", "email.message",
    "smtplib", "sqlite3", "importlib.metadata", "newsletter.importers", "newsletter.render",
    "newsletter.mail", "newsletter.providers", "newsletter.delivery", "newsletter.db.engine",
    "newsletter.db.state", "newsletter.db.audience",
    "newsletter.store.config", "newsletter.store.content",
)  # fmt: skip

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


def heavy_among(loaded: set[str]) -> list[str]:
    return sorted(name for name in loaded for heavy in HEAVY if name == heavy or name.startswith(heavy + "."))


# Runs `newsletter --help` through the console script's function, then lists what it loaded.
HELP_LOADED = """
import json, sys
from newsletter.cli import main
code = main(["--help"])
print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)
"""


def test_importing_the_cli_loads_nothing_heavy():
    loaded = modules_loaded_by("newsletter.cli")
    assert "argparse" in loaded and "newsletter.cli.sending" in loaded  # the commands are all registered
    assert heavy_among(loaded) == []


def test_help_loads_nothing_heavy(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", HELP_LOADED], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    code, loaded = json.loads(done.stderr)
    assert code == 0 and "send-due" in done.stdout
    assert heavy_among(set(loaded)) == []
    # Nor what only a running command needs (the workspace, the typing machinery behind it), nor
    # shutil, which argparse's help formatter would load for the terminal's width (with bz2 and lzma).
    assert {"newsletter.store.workspace", "typing", "dataclasses", "inspect", "shutil"}.isdisjoint(loaded)


def test_the_guard_sees_a_heavy_import():
    # The same check over a module that does load YAML: the guard is not blind.
    assert "yaml" in heavy_among(modules_loaded_by("newsletter.store.yamltext"))


def test_help_lists_every_command_without_loading_settings(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "--help"],
        cwd=tmp_path,  # no workspace here: --help must not look for one
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for command in ("summaries", "build", "send", "subscribers"):
        assert command in done.stdout
