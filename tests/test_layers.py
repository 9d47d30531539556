"""The package's imports point one way, down the pipeline: load -> compose -> render -> mail -> deliver."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import newsletter

PACKAGE = Path(newsletter.__file__).parent

# Each stage may import its own package and the stages ranked below it, never one ranked above.
RANK = {
    "errors": 0,
    "text": -1,  # the one printable(): errors and everything above show outside text through it
    "names": 0.5,  # people's names and greetings: pure, used by every stage that meets a name
    "store": 1,
    "importers": 2,
    "compose": 2,
    "db": 2,  # the state database: subscribers, consent, suppression, the ledger
    "workspace_init": 2,  # `newsletter init`: a new workspace's files (reads store to check them)
    "render": 3,
    "mail": 4,
    "providers": 5,
    "bounces": 5.5,  # after the send: reports, complaints, SES events, issue health (reads db, mail.verp)
    "check": 6,
    "delivery": 7,
    "corrections": 7.5,  # `newsletter correct`: who received a summary (the ledger), sent as a run
    "web": 8,
    "console": 9,  # formats what the library returns; the commands print through it
    "cli": 10,
    "__main__": 11,
}


def stage(module: str) -> str:
    """`newsletter.render.html` -> `render`; the package itself -> `errors` (it holds only the version)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "errors"


def imports_of(path: Path) -> set[str]:
    """Every `newsletter...` module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("newsletter")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("newsletter"):
            if node.module == "newsletter":  # `from newsletter import store` names a sub-package
                found |= {f"newsletter.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def test_every_stage_has_a_rank():
    stages = {stage(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert stages <= set(RANK), f"give these a rank in RANK: {stages - set(RANK)}"


def test_imports_point_down_the_pipeline():
    backward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in sorted(imports_of(path)):
            if target == "newsletter.__version__":
                continue
            mine, theirs = stage(source), stage(target)
            if mine != theirs and RANK[theirs] >= RANK[mine]:
                backward.append(f"{source} imports {target} ({mine} -> {theirs})")
    assert not backward, "backward imports:\n" + "\n".join(backward)


def test_rendering_does_not_load_delivery():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, newsletter.render; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [m for m in loaded if m.startswith("newsletter.delivery")]
