"""The issue editor's changes, as plain functions over an issue file's round-trip data.

Each function changes the data in place and returns a sentence for the editor (announced on the
page); a change the file cannot take raises `EditError`. The desk validates the result with the
CLI's own loader before anything is written.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString, ScalarString

from newsletter.errors import ContentError
from newsletter.store.models import Summary
from newsletter.store.yamledit import (
    Moment,
    map_delete,
    map_insert_after,
    new_seq,
    seq_insert,
    seq_pop,
    seq_reorder,
    text_scalar,
)

LINE_FIELDS = ("title", "subject", "preheader")


class EditError(ContentError):
    """A change that cannot be made (an unknown item, a section that is not there)."""


def _sections(data: Any) -> Any:
    sections = data.get("sections")
    if not isinstance(sections, list):
        raise EditError("the issue has no sections list; fix it in a text editor")
    return sections


def locate(data: Any, sid: str) -> tuple[int, int]:
    """(section index, position) of a summary id in the issue."""
    for s_index, section in enumerate(_sections(data)):
        items = section.get("items") if isinstance(section, dict) else None
        if isinstance(items, list) and sid in items:
            return s_index, items.index(sid)
    raise EditError(f"{sid} is not in the issue (it may have been moved or removed meanwhile)")


def _title(data: Any, s_index: int) -> str:
    return str(_sections(data)[s_index].get("title", f"section {s_index + 1}"))


def item_comment(summary: Summary | None) -> str | None:
    """The comment `new-issue` puts after an item, so a file edited in the desk reads the same."""
    if summary is None:
        return None
    kind = "teaser, " if summary.is_teaser else ""
    return f"# {kind}{summary.published}: {' '.join(summary.title.split())[:90]}"


def _drop_if_empty(data: Any, s_index: int) -> str:
    sections = _sections(data)
    if sections[s_index].get("items"):
        return ""
    title = _title(data, s_index)
    del sections[s_index]
    return f" Section “{title}” was left empty and was removed."


def set_line(data: Any, key: str, value: str) -> str:
    """Set the title, subject or preheader; keeps the quoting style the file used."""
    if key not in LINE_FIELDS:
        raise EditError(f"{key} is not an issue line")
    value = " ".join(value.split())
    old = data.get(key)
    if old == value:
        return ""
    if not value and key == "preheader":
        data.pop(key, None)
        return "Preheader removed."
    data[key] = type(old)(value) if isinstance(old, ScalarString) else value
    return f"{key.capitalize()} saved."


def _lines(text: str) -> str:
    """A textarea's text with its line ends as the file has them and no trailing spaces."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _paragraphs(text: str) -> list[str]:
    """The paragraphs a reader sees: a folded block and its one-line form read the same."""
    return [" ".join(p.split()) for p in re.split(r"\n[ \t]*\n", text.strip()) if p.strip()]


def set_intro(data: Any, text: str) -> str:
    text = _lines(text) + "\n"
    if str(data.get("intro", "")).strip() == text.strip():
        return ""
    data["intro"] = LiteralScalarString(text)
    return "Intro saved."


def set_section_intro(data: Any, s_index: int, text: str) -> str:
    """The editor's note about one section (shown only to readers whose edition carries it); empty removes it.

    Written as the file writes it: short on the `intro:` line, long folded, paragraphs as a block.
    """
    sections = _sections(data)
    if not 0 <= s_index < len(sections):
        raise EditError(f"there is no section {s_index + 1}")
    section, title = sections[s_index], _title(data, s_index)
    text = _lines(text)
    old = section.get("intro")
    if _paragraphs(str(old or "")) == _paragraphs(text):
        return ""
    if not text:
        map_delete(section, "intro")
        return f"Removed the intro of “{title}”."
    value = text_scalar(text, old)
    if "intro" in section:
        section["intro"] = value
    else:  # under the title, where `new-issue` and the sample put it
        map_insert_after(section, "title", "intro", value)
    return f"Saved the intro of “{title}”."


def set_send_at(data: Any, local: str, tz: tzinfo) -> str:
    """Schedule the issue at a local date and time (as a datetime-local field gives it), or unschedule it."""
    local = local.strip()
    if not local:
        if "send_at" not in data:
            return ""
        del data["send_at"]
        return "Unscheduled: `send-due` will not send it."
    try:
        when = datetime.fromisoformat(local)
    except ValueError:
        raise EditError(f"{local!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    when = (when.replace(tzinfo=tz) if when.tzinfo is None else when).replace(microsecond=0)
    old = data.get("send_at")
    if isinstance(old, datetime) and old == when:
        return ""
    moment = Moment.of(when)
    if "send_at" in data:
        data["send_at"] = moment
    else:  # after the window, where `new-issue` puts it
        keys = list(data)
        data.insert(keys.index("window") + 1 if "window" in keys else len(keys), "send_at", moment)
    return f"Scheduled for {when.isoformat()}."


def move_item(data: Any, sid: str, direction: str) -> str:
    """Up or down within its section; past the top or bottom it goes to the neighbouring section."""
    s_index, pos = locate(data, sid)
    sections = _sections(data)
    items = sections[s_index]["items"]
    step = -1 if direction == "up" else 1
    target = pos + step
    if 0 <= target < len(items):
        order = list(range(len(items)))
        order[pos], order[target] = order[target], order[pos]
        seq_reorder(items, order)
        return f"Moved {direction} to position {target + 1} of {len(items)} in “{_title(data, s_index)}”."
    neighbour = s_index + step
    if not 0 <= neighbour < len(sections):
        raise EditError(f"{sid} is already {'first' if step < 0 else 'last'} in the issue")
    return move_to_section(data, sid, neighbour, at_end=step < 0)


def move_to_section(data: Any, sid: str, to_index: int, at_end: bool = True) -> str:
    s_index, pos = locate(data, sid)
    sections = _sections(data)
    if not 0 <= to_index < len(sections):
        raise EditError(f"there is no section {to_index + 1}")
    if to_index == s_index:
        return ""
    value, own = seq_pop(sections[s_index]["items"], pos)
    target = sections[to_index]["items"]
    seq_insert(target, len(target) if at_end else 0, value, own)
    title = _title(data, to_index)
    note = _drop_if_empty(data, s_index)
    return f"Moved to “{title}”.{note}"


def remove_item(data: Any, sid: str) -> str:
    s_index, pos = locate(data, sid)
    seq_pop(_sections(data)[s_index]["items"], pos)
    return f"Removed from the issue; it is back among the candidates.{_drop_if_empty(data, s_index)}"


def add_item(data: Any, summary: Summary, to_index: int) -> str:
    sections = _sections(data)
    try:
        locate(data, summary.id)
    except EditError:
        pass
    else:
        raise EditError(f"{summary.id} is already in the issue")
    if not 0 <= to_index < len(sections):
        raise EditError(f"there is no section {to_index + 1}")
    items = sections[to_index]["items"]
    seq_insert(items, len(items), summary.id, item_comment(summary))
    return f"Added to “{_title(data, to_index)}”."


def move_section(data: Any, s_index: int, direction: str) -> str:
    sections = _sections(data)
    target = s_index + (-1 if direction == "up" else 1)
    if not (0 <= s_index < len(sections) and 0 <= target < len(sections)):
        raise EditError("the section cannot move further that way")
    order = list(range(len(sections)))
    order[s_index], order[target] = order[target], order[s_index]
    seq_reorder(sections, order)
    return f"Section “{_title(data, target)}” is now number {target + 1} of {len(sections)}."


def rename_section(data: Any, s_index: int, title: str) -> str:
    sections = _sections(data)
    title = " ".join(title.split())
    if not title:
        raise EditError("a section needs a title")
    if not 0 <= s_index < len(sections):
        raise EditError(f"there is no section {s_index + 1}")
    old = sections[s_index].get("title")
    if old == title:
        return ""
    sections[s_index]["title"] = type(old)(title) if isinstance(old, ScalarString) else title
    return f"Section renamed to “{title}”."


def delete_section(data: Any, s_index: int) -> str:
    sections = _sections(data)
    if not 0 <= s_index < len(sections):
        raise EditError(f"there is no section {s_index + 1}")
    if len(sections) == 1:
        raise EditError("an issue needs at least one section")
    title, count = _title(data, s_index), len(sections[s_index].get("items") or ())
    seq_pop(sections, s_index)
    return f"Section “{title}” deleted; its {count} item(s) are back among the candidates."


def add_section(data: Any, title: str, first: Summary) -> str:
    """A new last section, started with one summary (moved from its section if already in the issue)."""
    title = " ".join(title.split())
    if not title:
        raise EditError("a section needs a title")
    sections = _sections(data)
    if any(str(s.get("title", "")).casefold() == title.casefold() for s in sections):
        raise EditError(f"there is already a section “{title}”")
    section = CommentedMap([("title", title), ("items", new_seq([]))])
    seq_insert(sections, len(sections), section)
    try:
        s_index, _ = locate(data, first.id)
    except EditError:
        seq_insert(section["items"], 0, first.id, item_comment(first))
        return f"Section “{title}” added with one item."
    if s_index == len(sections) - 1:
        return ""
    move_to_section(data, first.id, len(sections) - 1)
    return f"Section “{title}” added; the item moved into it."
