"""Where the repository's sample workspace is, and how a test copies it; shared by the fixtures and tests.

Imported by its bare name (`from sample_workspace import ...`), like `delivery_helpers`: pytest puts
this folder on `sys.path` because it has no `__init__.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
WORKSPACE_PARTS = ("newsletter.yaml", "topics.yaml", "summaries", "issues", "subscribers")
SAMPLE_ISSUE = "2026-06"  # the finished sample issue, issues/2026-06.yaml


def copy_sample_workspace(root: Path) -> Path:
    """Copy the repository's sample workspace (settings, taxonomy, content, lists) into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for part in WORKSPACE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        elif source.is_file():
            shutil.copy2(source, root / part)
    return root
