"""Shared fixtures: a fresh copy of the sample workspace for each test that needs one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sample_workspace import copy_sample_workspace

# Real servers on loopback, and the subscriber service running on a copy of the sample (`svc`).
pytest_plugins = ["postgres_server", "dovecot_server", "postfix_server", "service_helpers"]


@pytest.fixture(autouse=True)
def no_aws_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's credential chain never asks an instance-metadata address or reads this machine's ~/.aws."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    for name in (
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the repository's sample workspace that a test may change freely."""
    return copy_sample_workspace(tmp_path / "ws")


@pytest.fixture
def empty_workspace(workspace: Path) -> Path:
    """The sample settings and taxonomy with no summaries, issues or subscribers."""
    for part in ("summaries", "issues", "subscribers"):
        shutil.rmtree(workspace / part, ignore_errors=True)
        (workspace / part).mkdir()
    return workspace


@pytest.fixture
def smtp_sink():
    """A real SMTP server (aiosmtpd) on loopback that records every message it accepts."""
    from delivery_helpers import RecordingSink, start_sink

    handler = RecordingSink()
    controller = start_sink(handler)
    handler.port = controller.port
    yield handler
    controller.stop()
