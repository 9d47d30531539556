"""Round-trip YAML edits: an unchanged file is written back byte for byte; moved items keep their
own comments while the comments between items stay in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.store import yamledit
from newsletter.store.fileio import parse_yaml

SAMPLE = Path(__file__).parent.parent


@pytest.mark.parametrize(
    "path",
    sorted((SAMPLE / "summaries").glob("*.yaml")) + sorted((SAMPLE / "issues").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_every_sample_file_round_trips_unchanged(path: Path):
    # (topics.yaml, which the desk never writes, wraps a flow list over two lines: ruamel would join it.)
    doc = yamledit.load_document(path, path.name)
    assert doc.dump() == path.read_text(encoding="utf-8")


LIST = """\
items:
  - a  # first
  - b  # second
  # a note after b
  - c
  # the end of the list
"""


def _items(text: str) -> list[str]:
    return parse_yaml(text, Path("x.yaml")).data["items"]


def _doc(tmp_path: Path, text: str = LIST) -> yamledit.Document:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return yamledit.load_document(path, "x.yaml")


def test_a_moved_item_takes_its_own_comment_and_leaves_the_others(tmp_path):
    doc = _doc(tmp_path)
    yamledit.seq_reorder(doc.data["items"], [2, 0, 1])
    assert doc.dump() == (
        "items:\n  - c\n  - a  # first\n  # a note after b\n  - b  # second\n  # the end of the list\n"
    )


def test_pop_and_insert_keep_the_lists_closing_comment_at_its_end(tmp_path):
    doc = _doc(tmp_path)
    value, own = yamledit.seq_pop(doc.data["items"], 2)
    assert (value, own) == ("c", None)
    assert doc.dump().endswith("  - b  # second\n  # a note after b\n  # the end of the list\n")
    yamledit.seq_insert(doc.data["items"], 2, "d", "# new")
    assert doc.dump().endswith("  - b  # second\n  - d  # new\n  # a note after b\n  # the end of the list\n")


@given(st.permutations(range(3)))
def test_any_order_keeps_every_comment_line_and_loads_as_that_order(order):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        doc = _doc(Path(folder))
        yamledit.seq_reorder(doc.data["items"], list(order))
        text = doc.dump()
    assert _items(text) == [["a", "b", "c"][i] for i in order]
    comments = sorted(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    assert comments == sorted(line.split("#", 1)[1] for line in LIST.splitlines() if "#" in line)


def test_save_refuses_a_file_changed_since_it_was_loaded(tmp_path):
    doc = _doc(tmp_path)
    doc.data["items"].append("z")
    (tmp_path / "x.yaml").write_text(LIST + "more: 1\n", encoding="utf-8")
    with pytest.raises(yamledit.Conflict):
        yamledit.save_document(doc, doc.version, tmp_path / "lock")
    assert (tmp_path / "x.yaml").read_text(encoding="utf-8") == LIST + "more: 1\n"
    fresh = yamledit.load_document(tmp_path / "x.yaml", "x.yaml")
    fresh.data["items"].append("z")
    assert yamledit.save_document(fresh, fresh.version, tmp_path / "lock") == yamledit.file_version(
        tmp_path / "x.yaml"
    )
    assert _items((tmp_path / "x.yaml").read_text(encoding="utf-8")) == ["a", "b", "c", "z"]
    assert list(tmp_path.glob(".x.yaml.*")) == []  # no temporary file left


def test_invalid_yaml_is_one_line_naming_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [\n", encoding="utf-8")
    with pytest.raises(yamledit.ContentError) as caught:
        yamledit.load_document(path, "bad.yaml")
    assert caught.value.message.startswith("bad.yaml:") and "\n" not in caught.value.message
