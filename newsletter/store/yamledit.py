"""Round-trip YAML edits: change a file as a person would, keeping its comments, key order and layout.

The CLI reads files with PyYAML (store/yamltext.py); the desk writes them through ruamel.yaml's
round-trip mode, so a saved file differs from the one on disk only in the lines that were edited.
A save names the version of the file it was made from (a hash of its bytes): when the file changed
on disk since, the save is refused with `Conflict` rather than overwriting someone else's edit.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString
from ruamel.yaml.tokens import CommentToken

from newsletter.errors import ContentError
from newsletter.store.fileio import atomic_write, locked, read_bytes

MISSING = "missing"  # the version of a file that does not exist
# The workspace's one lock for round-trip saves: the desk and `newsletter correct` take turns on it.
EDIT_LOCK = Path(".newsletter") / "desk.lock"
FOLD_AT = 100  # characters: where a long text is folded in the file, as the importer writes it


class Conflict(ContentError):
    """The file changed on disk since the version an edit was made from."""

    def __init__(self, path: Path, expected: str, current: str) -> None:
        super().__init__(
            f"{path.name} changed on disk since it was loaded; reload it and make the change again"
        )
        self.path, self.expected, self.current = path, expected, current


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def file_version(path: Path) -> str:
    """The version of a file as it is now: a hash of its bytes, or MISSING."""
    try:
        return version_of(path.read_bytes())
    except FileNotFoundError:
        return MISSING


@dataclass
class Document:
    """A YAML file loaded for editing: its data (ruamel's commented containers), text and version."""

    path: Path
    data: Any
    text: str
    version: str
    indent: tuple[int, int, int]  # mapping, sequence, offset: as the file has them

    def dump(self) -> str:
        return dump_text(self.data, self.indent)


class Moment(datetime):
    """A date and time written as `send_at` is: 2026-05-29T16:02:11+02:00 (ruamel would write a space)."""

    @classmethod
    def of(cls, moment: datetime) -> Moment:
        return cls.fromisoformat(moment.isoformat())


def _represent_moment(representer: RoundTripRepresenter, data: Moment) -> ScalarNode:
    return representer.represent_scalar("tag:yaml.org,2002:timestamp", data.isoformat())


RoundTripRepresenter.add_representer(Moment, _represent_moment)


def _yaml(indent: tuple[int, int, int]) -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the person wrote
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def dump_text(data: Any, indent: tuple[int, int, int] = (2, 4, 2)) -> str:
    out = io.StringIO()
    _yaml(indent).dump(data, out)
    return out.getvalue()


_BLOCK_ITEM = re.compile(r"^( *)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\n(?:[ \t]*(?:#[^\n]*)?\n)*( *)- ", re.M)
_NESTED_KEY = re.compile(r"^( *)[^\s#-][^\n:]*:[ \t]*\n( +)[^\s#-][^\n:]*:", re.M)


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as the file uses them, from its first nested block.

    `key:` then `  - item` is offset 2 (sequence 4); `key:` then `- item` is offset 0 (sequence 2).
    Reading the text, not parsing it: a parse takes longer than the whole edit.
    """
    offset = 2
    item = _BLOCK_ITEM.search(text)
    if item:
        offset = max(len(item.group(2)) - len(item.group(1)), 0)
    nested = _NESTED_KEY.search(text)
    mapping = len(nested.group(2)) - len(nested.group(1)) if nested else 2
    return (mapping if mapping > 0 else 2), offset + 2, offset


def load_document(path: Path, shown: str | Path) -> Document:
    """A YAML file for editing; unreadable or invalid YAML is a ContentError naming the file."""
    raw = read_bytes(path, shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ContentError(f"{shown}: not UTF-8 text; save it as UTF-8") from None
    try:
        data = _yaml(indent := guess_indent(text)).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ContentError(f"{shown}{line}: not valid YAML; fix it in a text editor") from None
    return Document(path, data, text, version_of(raw), indent)


def save_document(doc: Document, expected: str, lock_file: Path, text: str | None = None) -> str:
    """Write `doc` (or `text`, its dump) atomically if the file is still at version `expected`.

    Returns the new version. Two desks (or a desk and a script) saving at once take turns on
    `lock_file`, so the check and the write are one step.
    """
    text = doc.dump() if text is None else text
    with locked(lock_file):
        current = file_version(doc.path)
        if current != expected:
            raise Conflict(doc.path, expected, current)
        atomic_write(doc.path, text)
    return version_of(text.encode("utf-8"))


# --- sequences whose items carry end-of-line comments ----------------------------------------------
# ruamel keeps an item's comment in `seq.ca.items[index]`: its first line is the item's own
# end-of-line comment ("- id  # 2026-05-20: title"); any further lines are full-line comments that
# follow the item in the file (a "gap"). The first travels with the item; gaps stay where they are,
# and the gap after the last item stays at the end of the list.


def _parts(seq: CommentedSeq) -> tuple[list[Any], list[str | None], list[str]]:
    values: list[Any] = list(seq)
    owns: list[str | None] = []
    gaps: list[str] = []
    for index in range(len(seq)):
        entry = seq.ca.items.get(index)
        token = entry[0] if entry else None
        if token is None:
            owns.append(None)
            gaps.append("")
            continue
        first, newline, rest = str(token.value).partition("\n")
        owns.append(first.strip() or None)
        gaps.append(rest if newline else "")
    return values, owns, gaps


def _rebuild(seq: CommentedSeq, values: list[Any], owns: list[str | None], gaps: list[str]) -> None:
    del seq[:]
    seq.ca.items.clear()
    for index, value in enumerate(values):
        seq.append(value)
        own, gap = owns[index], gaps[index]
        if own is None and not gap:
            continue
        # Two spaces before an item's own comment, as `new-issue` writes them.
        text = (f" {own}" if own else "") + "\n" + gap
        seq.ca.items[index] = [CommentToken(text, CommentMark(0), None), None, None, None]


def seq_reorder(seq: CommentedSeq, order: list[int]) -> None:
    """Put the items of `seq` in `order` (old indexes); each keeps its own end-of-line comment."""
    if sorted(order) != list(range(len(seq))):
        raise ValueError(f"not an order of {len(seq)} items: {order}")
    values, owns, gaps = _parts(seq)
    _rebuild(seq, [values[i] for i in order], [owns[i] for i in order], gaps)


def seq_pop(seq: CommentedSeq, index: int) -> tuple[Any, str | None]:
    """Remove one item; return it and its own comment. The comments after it stay in the list."""
    values, owns, gaps = _parts(seq)
    value, own, gap = values.pop(index), owns.pop(index), gaps.pop(index)
    if values and gap:
        gaps[max(index - 1, 0)] += gap
    _rebuild(seq, values, owns, gaps)
    return value, own


def seq_insert(seq: CommentedSeq, index: int, value: Any, own: str | None = None) -> None:
    """Insert `value` at `index` with its own end-of-line comment (e.g. "# 2026-05-20: title")."""
    values, owns, gaps = _parts(seq)
    at_end = index >= len(values)
    values.insert(index, value)
    owns.insert(index, own)
    gaps.insert(len(gaps) - 1 if at_end and gaps else index, "")
    _rebuild(seq, values, owns, gaps)


def new_seq(values: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_block_style()
    return seq


# --- texts written as a person (or the importer) writes them -----------------------------------------


def text_scalar(text: str, old: Any) -> Any:
    """A text as the file would hold it: short on its line, long folded (`>-`) near FOLD_AT, several
    paragraphs (or a text that was a literal block) as a literal block (`|`)."""
    if isinstance(old, LiteralScalarString) or "\n" in text:
        return LiteralScalarString(text)
    if len(text) <= FOLD_AT and not isinstance(old, FoldedScalarString):
        return text
    scalar = FoldedScalarString(text)
    positions, start = [], 0
    while len(text) - start > FOLD_AT:
        cut = text.rfind(" ", start, start + FOLD_AT + 1)
        if cut <= start:
            break
        if text[cut - 1] != " " and text[cut + 1 : cut + 2] not in (" ", ""):
            positions.append(cut)
        start = cut + 1
    scalar.fold_pos = positions
    return scalar


# --- mapping keys whose comments run on to the next key -------------------------------------------
# ruamel keeps the comment lines that follow `key: value` (before the next key) in
# `mapping.ca.items[key][2]`: its first line is the key's own end-of-line comment, the rest are
# full-line comments above the next key. Adding or removing a key between them moves those lines, so
# they stay above the key they were written for.


def _comment_split(mapping: CommentedMap, key: Any) -> tuple[str, str]:
    entry = mapping.ca.items.get(key)
    token = entry[2] if entry and len(entry) > 2 else None
    if token is None:
        return "", ""
    own, newline, rest = str(token.value).partition("\n")
    return own, rest if newline else ""


def _comment_set(mapping: CommentedMap, key: Any, own: str, rest: str) -> None:
    if not own and not rest:
        mapping.ca.items.pop(key, None)
        return
    token = CommentToken(own + "\n" + rest, CommentMark(0), None)
    mapping.ca.items[key] = [None, None, token, None]


def map_insert_after(mapping: CommentedMap, after: Any, key: Any, value: Any) -> None:
    """Insert `key: value` right after the key `after`; the comment lines above the next key stay there."""
    keys = list(mapping)
    mapping.insert(keys.index(after) + 1 if after in keys else len(keys), key, value)
    own, rest = _comment_split(mapping, after)
    if rest:
        _comment_set(mapping, after, own, "")
        _comment_set(mapping, key, "", rest)


def map_delete(mapping: CommentedMap, key: Any) -> None:
    """Delete `key`; the comment lines below it (above the next key) move to the key before it."""
    keys = list(mapping)
    _, rest = _comment_split(mapping, key)
    del mapping[key]
    mapping.ca.items.pop(key, None)
    at = keys.index(key)
    if rest and at > 0:
        before = keys[at - 1]
        own, earlier = _comment_split(mapping, before)
        _comment_set(mapping, before, own, earlier + rest)
