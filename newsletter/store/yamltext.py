"""YAML text: parsed with the line of each key and limits against hostile input, and written back.

The only module that imports PyYAML. YAML is refused when it nests too deep, repeats a key, holds
control characters, or uses aliases to grow (a "YAML bomb").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import ContentError
from newsletter.store.fileio import YamlDocument

MAX_DEPTH = 40  # nesting of mappings and lists; our files use 4
MAX_ALIASES = 100  # `*alias` references in one file; our files use none
MAX_NODES = 200_000  # values in the document once aliases are expanded

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe loader (libyaml's when present) that leaves dates as strings.

    PyYAML turns `2026-02-30` into an uncaught ValueError and `2026-05-01` into a date; we parse
    dates ourselves instead and report the file and the field.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _check_events(text: str, shown: Path) -> None:
    """Refuse deep nesting and many aliases before anything is built (events need no recursion)."""
    loader = _Loader(text)
    depth = aliases = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ContentError(
                        f"{shown}:{_line(event)}: invalid YAML: nested more than {MAX_DEPTH} levels deep"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise ContentError(
                        f"{shown}:{_line(event)}: invalid YAML: more than {MAX_ALIASES} aliases (*name); "
                        "write the values out instead"
                    )
    finally:
        loader.dispose()


# Line breaks and tabs are text (a one-line field refuses line breaks itself, with a clearer
# message); every other control character (C0, DEL, C1) and the Unicode line separators are not:
# written as YAML escapes ("\x1b") they would reach headers, terminals and XML.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _line(event: yaml.Event) -> int:
    """The 1-based line an event starts on (0 if the parser gave none)."""
    return event.start_mark.line + 1 if event.start_mark else 0


def _scalar_problem(node: yaml.ScalarNode, prefix: tuple, shown: Path) -> str | None:
    found = _CONTROL.search(node.value)
    if not found:
        return None
    where = ".".join(str(k) for k in prefix)
    field = f" {where}:" if where else ""
    code = f"U+{ord(found.group()):04X}"
    return f"{shown}:{node.start_mark.line + 1}:{field} control character {code} in the text; remove it"


def _record_lines(root: yaml.Node, shown: Path) -> dict[tuple, int]:
    """The line of each key path; refuses duplicate keys, control characters in text, and documents
    that aliases blow up.

    Iterative, with a budget on the nodes visited: an alias is visited again wherever it is used,
    so the budget also bounds what constructing the data will build.
    """
    lines: dict[tuple, int] = {}
    budget = MAX_NODES
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        budget -= 1
        if budget < 0:
            raise ContentError(
                f"{shown}: invalid YAML: more than {MAX_NODES} values once aliases are expanded"
            )
        if isinstance(node, yaml.ScalarNode):
            problem = _scalar_problem(node, prefix, shown)
            if problem:
                raise ContentError(problem)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    # `? [a, b]` makes a list a key: no file of ours has one, and Python cannot hash it.
                    raise ContentError(f"{shown}:{line}: invalid YAML: a key must be a plain value")
                if key_node.value in seen:
                    raise ContentError(
                        f"{shown}:{line}: duplicate key {key_node.value!r} (first on line "
                        f"{seen[key_node.value]}); keep one"
                    )
                seen[key_node.value] = line
                key = prefix + (key_node.value,)
                lines.setdefault(key, line)
                stack.append((value_node, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                key = prefix + (index,)
                lines.setdefault(key, item.start_mark.line + 1)
                stack.append((item, key))
    return lines


def parse_yaml(text: str, shown: Path) -> YamlDocument:
    """Parse YAML text; errors name the file and line."""
    lines: dict[tuple, int] = {}
    loader = _Loader(text)
    try:
        _check_events(text, shown)
        # The node tree gives the line numbers and is checked; the data is constructed from it.
        node = loader.get_single_node()
        if node is not None:
            lines = _record_lines(node, shown)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ContentError(f"{shown}{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ContentError(f"{shown}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDocument(shown, data, lines)


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
