"""Reading YAML with line numbers for error messages, and writing files atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import ContentError, NewsletterError


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A safe loader (libyaml's when present) that leaves dates as strings.

    PyYAML turns `2026-02-30` into an uncaught ValueError and `2026-05-01` into a date; we parse
    dates ourselves instead and report the file and the field.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDocument:
    """A parsed YAML mapping plus the 1-based line of each key path, e.g. ("sender", "email")."""

    path: Path
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)

    def where(self, *keys: object) -> str:
        """`file:line` for a key path, falling back to the nearest parent that has a line."""
        keys_t = tuple(keys)
        while keys_t and keys_t not in self.lines:
            keys_t = keys_t[:-1]
        line = self.lines.get(keys_t)
        return f"{self.path}:{line}" if line else str(self.path)


def _record_lines(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = prefix + (key_node.value,)
            lines[key] = key_node.start_mark.line + 1
            _record_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = prefix + (index,)
            lines[key] = item.start_mark.line + 1
            _record_lines(item, key, lines)


def read_text(path: Path, shown: str | Path, error: type[NewsletterError] = ContentError) -> str:
    """A UTF-8 text file's content; a missing, unreadable or non-UTF-8 file is `error` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{shown}: file not found") from None
    except UnicodeDecodeError as exc:
        raise error(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read ({exc.strerror})") from None


def load_yaml(path: Path, display: str | Path | None = None) -> YamlDocument:
    """Load one YAML file; invalid YAML or an unreadable file is a ContentError naming the line."""
    shown = Path(display) if display is not None else path
    return parse_yaml(read_text(path, shown), shown)


def parse_yaml(text: str, shown: Path) -> YamlDocument:
    """Parse YAML text; errors name the file and line."""
    loader = _Loader(text)
    try:
        # One parse: the node tree gives the line numbers, and the data is constructed from it.
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ContentError(f"{shown}{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ContentError(f"{shown}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(shown, data, lines)


# mkstemp makes 0600 files; a written file should get the mode any new file gets (0666 less umask).
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = path.stat().st_mode & 0o777  # keep the mode of the file being replaced
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_yaml(data: Any) -> str:
    """YAML as an editor would write it: block style, keys in the given order, Unicode kept."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so summaries stay readable in the files."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    # A long paragraph reads best folded (`>-`); folding would change doubled or edge spaces and tabs.
    plain_spaces = " " in value and value == value.strip() and "  " not in value and "\t" not in value
    if style is None and len(value) > 80 and plain_spaces:
        style = ">"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)
