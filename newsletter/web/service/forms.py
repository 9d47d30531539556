"""The service's forms, read and checked: every field bounded, no control characters, known topics."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from werkzeug.datastructures import MultiDict

from newsletter.db.addresses import check_name, normalise_address
from newsletter.store.topics import Taxonomy

EMAIL_MAX = 254  # RFC 5321's limit on a path, less the brackets
NAME_MAX = 100
HONEYPOT = "website"  # hidden from people; bots fill in every field
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class Pause(StrEnum):
    KEEP = "keep"  # leave the pause (or its absence) as it is
    NONE = "none"  # no pause: resume now
    ONE = "1"
    THREE = "3"
    SIX = "6"


@dataclass(frozen=True)
class Signup:
    email: str
    first_name: str
    topics: tuple[str, ...]  # as ticked: kept only with `topics_consent`
    topics_consent: bool  # the separate box for health data (topics), never ticked in advance
    next_url: str

    @property
    def kept_topics(self) -> tuple[str, ...]:
        return self.topics if self.topics_consent else ()


@dataclass(frozen=True)
class Preferences:
    first_name: str
    topics: tuple[str, ...]  # as ticked: kept only with `topics_consent`
    topics_consent: bool
    large_text: bool
    pause: Pause


@dataclass
class Problems:
    """Field name -> what is wrong, in words for the reader (shown beside the field)."""

    fields: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)


def topic_choices(taxonomy: Taxonomy) -> tuple[str, ...]:
    """What a reader picks from: the sections of topics.yaml, in their order."""
    return tuple(section.title for section in taxonomy.sections)


def vocabulary(taxonomy: Taxonomy) -> dict[str, str]:
    """Casefolded -> as written, for every section title and tag (as the database checks topics)."""
    words = {tag.casefold(): tag for tag in taxonomy.vocabulary}
    words.update({title.casefold(): title for title in topic_choices(taxonomy)})
    return words


def sections_of(topics: Iterable[str], taxonomy: Taxonomy) -> tuple[str, ...]:
    """The sections a reader's stored topics (titles or tags) stand for: what the checkboxes show."""
    owner = {tag.casefold(): s.title for s in taxonomy.sections for tag in s.tags}
    owner.update({s.title.casefold(): s.title for s in taxonomy.sections})
    found = {owner[t.casefold()] for t in topics if t.casefold() in owner}
    return tuple(title for title in topic_choices(taxonomy) if title in found)


def one_line(raw: str, limit: int, what: str, problems: Problems, name: str) -> str:
    """A text field, trimmed; a problem if it is too long or holds line breaks or control characters."""
    value = raw.strip()
    if len(value) > limit:
        problems.fields[name] = f"The {what} is too long: at most {limit} characters, please."
    elif "\r" in value or "\n" in value or _CONTROL.search(value):
        problems.fields[name] = f"The {what} contains a line break or a control character."
    return value


def first_name(form: MultiDict[str, str], problems: Problems) -> str:
    value = one_line(form.get("first_name", ""), NAME_MAX, "first name", problems, "first_name")
    if "first_name" not in problems.fields and check_name(value, "first name"):
        problems.fields["first_name"] = "The first name cannot contain <, > or @."
    return value


def chosen_topics(form: MultiDict[str, str], choices: tuple[str, ...], problems: Problems) -> tuple[str, ...]:
    picked = form.getlist("topics")
    if len(picked) > len(choices) or any(t not in choices for t in picked):
        problems.fields["topics"] = "Choose topics from the list."
        return ()
    return tuple(t for t in choices if t in picked)


def parse_signup(form: MultiDict[str, str], choices: tuple[str, ...]) -> tuple[Signup, Problems]:
    """The signup form's values and its problems (the consent box must be ticked; the topics one need not)."""
    problems = Problems()
    raw = one_line(form.get("email", ""), EMAIL_MAX, "email address", problems, "email")
    email = ""
    if "email" not in problems.fields:
        if not raw:
            problems.fields["email"] = "Enter your email address."
        else:
            try:
                email = normalise_address(raw)
            except ValueError:
                problems.fields["email"] = "Enter an email address such as name@example.org."
    name = first_name(form, problems)
    topics = chosen_topics(form, choices, problems)
    if form.get("consent", "") != "yes":
        problems.fields["consent"] = "Tick the box to agree to receive the newsletter."
    next_url = form.get("next", "")[:2000]
    consent = form.get("topics_consent", "") == "yes"
    return Signup(email or raw[:EMAIL_MAX], name, topics, consent, next_url), problems


def parse_preferences(form: MultiDict[str, str], choices: tuple[str, ...]) -> tuple[Preferences, Problems]:
    problems = Problems()
    name = first_name(form, problems)
    topics = chosen_topics(form, choices, problems)
    try:
        pause = Pause(form.get("pause", Pause.KEEP.value))
    except ValueError:
        problems.fields["pause"] = "Choose how long to pause from the list."
        pause = Pause.KEEP
    consent = form.get("topics_consent", "") == "yes"
    return Preferences(name, topics, consent, form.get("large_text", "") == "yes", pause), problems


def months_later(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months on (the month's last day when it is shorter)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def pause_until(pause: Pause, now: datetime) -> datetime | None | bool:
    """The `paused_until` value for update_subscriber: False keeps it, None ends a pause."""
    if pause == Pause.KEEP:
        return False
    if pause == Pause.NONE:
        return None
    return months_later(now, int(pause.value))
