"""Helpers shared by the editor's-bench tests (check, preview, browser, archive)."""

from __future__ import annotations

from pathlib import Path

ISSUE = "2026-06"

# The sample issue as the lead described it; written only while the repository lacks its own.
_FALLBACK = """\
title: MS Research Roundup, June 2026
subject: Microglia, gut bacteria and a new look at B cells
preheader: Five new studies in plain language
window: {since: 2026-05-01, until: 2026-05-31}
send_at: 2026-06-02T09:00:00-04:00
intro: |
  Welcome to this month's roundup.
sections:
  - title: Immune cells and inflammation
    items:
      - 2026-05-06-microglia-affect-ms-healing-harm-explained
      - 2026-05-11-understanding-immune-cells-ms-helpers-hurters
      - 2026-05-20-invading-immune-cells-damage-nerves-ms
  - title: More research
    items: [2026-05-14-lab-grown-human-microglia-point-targets, 2026-05-27-brain-immune-system-talk-more-than]
"""


def ensure_sample_issue(workspace: Path) -> str:
    path = workspace / "issues" / f"{ISSUE}.yaml"
    if not path.is_file():
        path.parent.mkdir(exist_ok=True)
        path.write_text(_FALLBACK)
    return ISSUE
