"""Shared fixtures: a fresh copy of the sample workspace for each test that needs one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
WORKSPACE_PARTS = ("newsletter.yaml", "topics.yaml", "summaries", "issues", "subscribers")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the repository's sample workspace that a test may change freely."""
    root = tmp_path / "ws"
    root.mkdir()
    for part in WORKSPACE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        elif source.is_file():
            shutil.copy2(source, root / part)
    return root


@pytest.fixture
def empty_workspace(workspace: Path) -> Path:
    """The sample settings and taxonomy with no summaries, issues or subscribers."""
    for part in ("summaries", "issues", "subscribers"):
        shutil.rmtree(workspace / part, ignore_errors=True)
        (workspace / part).mkdir()
    return workspace
