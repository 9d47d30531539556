"""Helpers for the fault tests: a ready workspace, `newsletter send` and `status --json` through the CLI.

Imported by its bare name (`from fault_helpers import ...`), like `delivery_helpers`.
"""

from __future__ import annotations

import json
from pathlib import Path

from delivery_helpers import ISSUE_ID, write_issue, write_readers
from factories import Result, invoke

# The exit codes `newsletter send --help` documents.
EXIT_ALL_SENT, EXIT_PROBLEM, EXIT_FAILURES = 0, 1, 3
SECRET_ENV = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}


def ready(workspace: Path, readers: int, max_attempts: int = 1) -> list[str]:
    """An issue ready to send to `readers` subscribers, each tried at most `max_attempts` times."""
    write_issue(workspace)
    settings = workspace / "newsletter.yaml"
    text = settings.read_text(encoding="utf-8").replace("max_attempts: 5", f"max_attempts: {max_attempts}")
    settings.write_text(text, encoding="utf-8")
    return write_readers(workspace, readers)


def send(workspace: Path, provider: str, *extra: str, env: dict | None = None) -> Result:
    """`newsletter send` of the ready issue through `provider`, one connection, unthrottled."""
    args = ["-w", str(workspace), "send", ISSUE_ID, "--provider", provider, "--yes", "--rate", "1000"]
    args += ["--concurrency", "1", *extra]
    return invoke(args, env={**SECRET_ENV, **(env or {})})


def status(workspace: Path) -> tuple[str, dict]:
    """`newsletter status` of the issue: the text an operator reads, and the JSON a script reads."""
    text = invoke(["-w", str(workspace), "status", ISSUE_ID]).output
    data = json.loads(invoke(["-w", str(workspace), "status", ISSUE_ID, "--json"]).output)
    return text, data[0]


def states(workspace: Path) -> dict[str, str]:
    """Each recipient's ledger state, for those not sent (as `status --json` lists them)."""
    return {f["email"]: f["state"] for f in status(workspace)[1]["failures"]}
