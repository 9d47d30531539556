"""A summary's corrections: `newsletter correct` appends one to the summary's file, as a person would.

The file keeps its comments, order and layout (store/yamledit.py): only a `corrections:` list
gains an item `{date: YYYY-MM-DD, note: ...}`. The summary's web pages show them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from newsletter.errors import ContentError
from newsletter.store.content import SUMMARIES_DIR, load_summary
from newsletter.store.models import Summary
from newsletter.store.yamledit import EDIT_LOCK, load_document, save_document

NOTE_MAX = 1000  # characters: a correction note is a sentence or two, not a new summary


def summary_path(workspace: Path, summary_id: str) -> Path:
    return workspace / SUMMARIES_DIR / f"{summary_id}.yaml"


def load_corrected(workspace: Path, summary_id: str) -> Summary:
    """The summary as it is now; a ContentError naming the file when it is missing or invalid."""
    path = summary_path(workspace, summary_id)
    if not path.is_file():
        raise ContentError(
            f"{SUMMARIES_DIR}/{summary_id}.yaml: no such summary;"
            " check the id with `newsletter summaries list`"
        )
    return load_summary(path, path.relative_to(workspace))


def check_note(note: str) -> str:
    """The note on one line; a ContentError saying what to fix when it is empty or too long."""
    flat = " ".join(note.split())
    if not flat:
        raise ContentError('--note: say what changed, e.g. --note "The dose was 4,000 IU, not 40,000 IU."')
    if len(flat) > NOTE_MAX:
        raise ContentError(
            f"--note: {len(flat)} characters; keep it to {NOTE_MAX} (what changed, not the text)"
        )
    return flat


def add_correction(workspace: Path, summary_id: str, note: str, day: date) -> int:
    """Append `{date, note}` to the summary's `corrections:`; returns how many it has now.

    The file is checked first (`load_corrected`), so an invalid one is reported, not extended.
    """
    load_corrected(workspace, summary_id)
    path = summary_path(workspace, summary_id)
    doc = load_document(path, path.relative_to(workspace))
    if not isinstance(doc.data, CommentedMap):
        raise ContentError(f"{SUMMARIES_DIR}/{summary_id}.yaml: expected a mapping of fields")
    corrections = doc.data.get("corrections")
    if corrections is None:
        corrections = doc.data["corrections"] = CommentedSeq()
    elif not isinstance(corrections, CommentedSeq):
        raise ContentError(f"{SUMMARIES_DIR}/{summary_id}.yaml: corrections: expected a list")
    item = CommentedMap()
    item["date"] = day
    item["note"] = note
    corrections.append(item)
    save_document(doc, doc.version, workspace / EDIT_LOCK)
    return len(corrections)
