"""Where the repository's sample workspace is, and how a test copies it; shared by the fixtures and tests.

Imported by its bare name (`from sample_workspace import ...`), like `delivery_helpers`: pytest puts
this folder on `sys.path` because it has no `__init__.py`.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
WORKSPACE_PARTS = ("newsletter.yaml", "topics.yaml", "summaries", "issues", "subscribers")
SAMPLE_ISSUE = "2026-06"  # the finished sample issue, issues/2026-06.yaml


@functools.cache
def sample_files() -> tuple[str, ...] | None:
    """The sample workspace's files that git tracks; None outside a git checkout (all files count).

    Files an editor added to a clone (imported summaries, new issues, a real list's CSV) are not
    the sample: tests never see them, so using a clone cannot break its tests.
    """
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--", *WORKSPACE_PARTS],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return tuple(name for name in listed.decode().split("\0") if name) or None


def copy_sample_workspace(root: Path) -> Path:
    """Copy the repository's sample workspace (settings, taxonomy, content, lists) into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    tracked = sample_files()
    if tracked is None:
        for part in WORKSPACE_PARTS:
            source = REPO / part
            if source.is_dir():
                shutil.copytree(source, root / part)
            elif source.is_file():
                shutil.copy2(source, root / part)
        return root
    for part in WORKSPACE_PARTS:
        if (REPO / part).is_dir():
            (root / part).mkdir(exist_ok=True)  # kept even when empty, as the tests expect
    for name in tracked:
        if not (REPO / name).is_file():
            continue  # deleted in the working tree
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    return root
