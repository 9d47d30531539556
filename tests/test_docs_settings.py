"""Every newsletter.yaml example the README and docs/ show works in a real workspace.

Each ```yaml block whose top-level keys are settings of newsletter.yaml (store/schema.py), and each
inline example such as `service: {trusted_proxy: 127.0.0.1}`, is merged into a copy of the sample
workspace's newsletter.yaml; `build`, `check` and `serve --help` then run there without a settings
error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from factories import invoke
from sample_workspace import REPO, SAMPLE_ISSUE

from newsletter.store.fileio import dump_yaml, parse_yaml
from newsletter.store.schema import SCHEMA

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`((?:" + "|".join(map(re.escape, SCHEMA.keys)) + r"): \{[^`]*\})`")


def settings_examples() -> list[tuple[str, dict]]:
    """(where, settings) for every example of newsletter.yaml settings in the README and docs/."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        snippets = [(m.start(), m.group(1)) for m in _BLOCK.finditer(text)]
        snippets += [(m.start(), m.group(1)) for m in _INLINE.finditer(text)]
        for start, snippet in snippets:
            data = parse_yaml(snippet, page).data
            if isinstance(data, dict) and data and set(data) <= set(SCHEMA.keys):
                line = text.count("\n", 0, start) + 1
                found.append((f"{page.relative_to(REPO)}:{line}", data))
    return found


EXAMPLES = settings_examples()


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra`'s keys on top; mappings are merged key by key."""
    result = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = merged(result[key], value) if both else value
    return result


def test_the_docs_show_the_settings_people_ask_about():
    shown = {key for _, data in EXAMPLES for key in data}
    assert {"bounces", "service"} <= shown, shown


@pytest.mark.parametrize(("where", "example"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_a_documented_settings_example_works_in_a_real_workspace(workspace: Path, where: str, example: dict):
    settings_file = workspace / "newsletter.yaml"
    base = parse_yaml(settings_file.read_text(encoding="utf-8"), settings_file).data
    settings_file.write_text(dump_yaml(merged(base, example)), encoding="utf-8")

    built = invoke(["-w", str(workspace), "build", SAMPLE_ISSUE])
    assert built.exit_code == 0, built.output
    checked = invoke(["-w", str(workspace), "check", SAMPLE_ISSUE])
    assert "newsletter.yaml" not in checked.output and "Traceback" not in checked.output, checked.output
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    helped = invoke(["-w", str(workspace), "serve", "--help"])
    assert helped.exit_code == 0 and "Example:" in helped.output
