"""The issue files (`issues/<id>.yaml`): load and validate them, and draft the next one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from newsletter import content, ledger, select
from newsletter import validate as v
from newsletter.config import Settings
from newsletter.errors import ContentError, problems
from newsletter.fileio import YamlDocument, atomic_write, load_yaml, parse_yaml
from newsletter.group import newest_first
from newsletter.models import Issue, Section, Summary
from newsletter.topics import load_taxonomy

ISSUES_DIR = "issues"
INTRO_TODO = "TODO: write a short note from the editor. `newsletter build` refuses an issue with this line."
_FIELDS = {"title", "subject", "preheader", "window", "send_at", "intro", "sections"}
SUBJECT_ADVICE = 60  # characters a phone's inbox shows of a subject


def issue_path(workspace: Path, issue_id: str) -> Path:
    return workspace / ISSUES_DIR / f"{issue_id}.yaml"


def issue_problems(doc: YamlDocument, issue_id: str) -> tuple[Issue | None, list[str]]:
    """Validate one issue document on its own (not against the summary store)."""
    data = doc.data
    p = v.Problems(doc)
    if not content.ID_PATTERN.match(issue_id):
        p.add((), "the file name is the issue id: use lowercase letters, digits and hyphens, e.g. 2026-06")
    if not isinstance(data, dict):
        p.add((), "expected a mapping with title, subject, preheader, window, intro, sections")
        return None, p.items
    v.unknown_keys(p, data, _FIELDS)

    def one_line(key: str, what: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            p.add((key,), f"required: {what}")
            return ""
        if not v.single_line(value.strip()):
            p.add((key,), "must be on one line (a line break would break the email's headers)")
        return value.strip()

    title = one_line("title", "the issue's title, e.g. MS Research Roundup, June 2026")
    subject = one_line("subject", "the email's subject line")
    preheader = one_line("preheader", "the short line inboxes show after the subject", required=False)
    intro = data.get("intro")
    if not isinstance(intro, str) or not intro.strip():
        p.add(("intro",), "required: a short note from the editor")
        intro = ""

    window = data.get("window")
    since = until = None
    if not isinstance(window, dict):
        p.add(("window",), "required: {since: YYYY-MM-DD, until: YYYY-MM-DD}")
    else:
        v.unknown_keys(p, window, {"since", "until"}, ("window",))
        since, until = v.parse_date(window.get("since")), v.parse_date(window.get("until"))
        for key, value in (("since", since), ("until", until)):
            if value is None:
                p.add(("window", key), f"expected a real date as YYYY-MM-DD, got {window.get(key)!r}")
        if since and until and since > until:
            p.add(("window",), f"since ({since}) is after until ({until})")

    send_at = None
    if data.get("send_at") is not None:
        send_at = v.parse_datetime(data["send_at"])
        if send_at is None or send_at.tzinfo is None:
            p.add(("send_at",), "expected a date and time with its offset, e.g. 2026-06-02T09:00:00-04:00")
            send_at = None

    sections = _sections(data.get("sections"), p)
    if p:
        return None, p.items
    return Issue(issue_id, title, subject, preheader, since, until, intro.strip(), sections, send_at), []


def _sections(raw: object, p: v.Problems) -> tuple[Section, ...]:
    if not isinstance(raw, list) or not raw:
        p.add(("sections",), "required: a list of {title, items}, each item a summary id")
        return ()
    sections: list[Section] = []
    seen_titles: set[str] = set()
    first_place: dict[str, str] = {}
    for index, item in enumerate(raw):
        keys = ("sections", index)
        if not isinstance(item, dict):
            p.add(keys, "expected a mapping with title and items")
            continue
        v.unknown_keys(p, item, {"title", "items"}, keys)
        title = item.get("title")
        if not v.text(title) or not v.single_line(title):
            p.add(keys + ("title",), "required: the section's heading, on one line")
            title = ""
        elif title.strip().casefold() in seen_titles:
            p.add(keys + ("title",), f"section {title.strip()!r} appears twice; merge them")
        seen_titles.add(str(title).strip().casefold())
        items = item.get("items")
        if not isinstance(items, list) or not items:
            p.add(keys + ("items",), "empty section: list at least one summary id, or remove the section")
            items = []
        ids: list[str] = []
        for position, summary_id in enumerate(items):
            where = keys + ("items", position)
            if not isinstance(summary_id, str) or not content.ID_PATTERN.match(summary_id):
                p.add(where, f"expected a summary id (a file name in summaries/), got {summary_id!r}")
                continue
            if summary_id in first_place:
                p.add(where, f"{summary_id} is already in the issue ({first_place[summary_id]}); keep one")
                continue
            first_place[summary_id] = f"section {str(title).strip()!r}"
            ids.append(summary_id)
        sections.append(Section(str(title).strip(), tuple(ids)))
    return tuple(sections)


def _failure(doc: YamlDocument, found: list[str]) -> ContentError:
    # Each problem already starts with file:line; say the file once more only above a list.
    return ContentError(found[0] if len(found) == 1 else problems(str(doc.path), found))


def _load_document(workspace: Path, issue_id: str) -> YamlDocument:
    path = issue_path(workspace, issue_id)
    shown = path.relative_to(workspace)
    if not path.is_file():
        raise ContentError(f"{shown}: no such issue; draft one with `newsletter new-issue {issue_id}`")
    return load_yaml(path, shown)


def load_issue(workspace: Path, issue_id: str) -> Issue:
    """One issue, validated; every problem is reported at once with its file and line."""
    doc = _load_document(workspace, issue_id)
    issue, found = issue_problems(doc, issue_id)
    if found:
        raise _failure(doc, found)
    return issue


def list_issues(workspace: Path) -> list[Issue]:
    """Every issue in the workspace, by id; any invalid file fails the load, all reported at once."""
    folder = workspace / ISSUES_DIR
    if not folder.is_dir():
        return []
    found: list[Issue] = []
    errors: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("."):
            continue
        try:
            issue, items = issue_problems(load_yaml(path, path.relative_to(workspace)), path.stem)
        except ContentError as exc:
            errors.append(exc.message)
            continue
        errors.extend(items)
        if issue is not None:
            found.append(issue)
    if errors:
        raise ContentError(problems(f"{ISSUES_DIR}/", errors))
    return found


def load_issue_content(workspace: Path, issue_id: str) -> tuple[Issue, dict[str, Summary]]:
    """An issue and the summaries it carries, each checked; ready to render.

    Only the summaries the issue names are read, so a broken file elsewhere in the store does
    not block this issue, while one in it is reported with its own file and line.
    """
    doc = _load_document(workspace, issue_id)
    issue, found = issue_problems(doc, issue_id)
    if found:
        raise _failure(doc, found)
    p = v.Problems(doc)
    summaries: dict[str, Summary] = {}
    for s_index, section in enumerate(issue.sections):
        for position, summary_id in enumerate(section.items):
            path = workspace / content.SUMMARIES_DIR / f"{summary_id}.yaml"
            if not path.is_file():
                p.add(
                    ("sections", s_index, "items", position),
                    f"no summary {summary_id!r} in {content.SUMMARIES_DIR}/; "
                    "check the id with `newsletter summaries list`",
                )
                continue
            summary, bad = content.summary_problems(load_yaml(path, path.relative_to(workspace)))
            p.items.extend(bad)
            if summary is not None:
                summaries[summary_id] = summary
    if p:
        raise _failure(doc, p.items)
    return issue, summaries


# --- what earlier issues carried -------------------------------------------------------------


def sent_record(settings: Settings) -> select.SentRecord:
    """What the delivery ledger says was sent; an empty record when nothing was ever sent."""
    path = ledger.ledger_path(settings)
    if not path.is_file():
        return select.SentRecord()
    with ledger.Ledger(path) as book:
        runs = book.runs()
        # "Reached someone" as the ledger's carried_summaries counts it: sent, or maybe sent (unknown).
        sent = {
            run.issue_id: datetime.fromisoformat(run.started_at)
            for run in runs
            if any(book.counts(run.issue_id)[state] for state in (ledger.SENT, ledger.UNKNOWN))
        }
        return select.SentRecord(
            frozenset(r.issue_id for r in runs), sent, frozenset(book.carried_summaries())
        )


def carried_before(
    settings: Settings, issue_id: str, window: select.Window, previous: list[Issue] | None = None
) -> dict[str, str | None]:
    """Summary id -> the earlier issue that carried it, for `new-issue` and `check` alike.

    `previous` is every issue in the workspace (read when not given); see `select.already_carried`.
    """
    if previous is None:
        previous = list_issues(settings.workspace)
    others = [i for i in previous if i.id != issue_id]
    current = next((i for i in previous if i.id == issue_id), None)
    return select.already_carried(others, window, sent_record(settings), current)


# --- drafting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What `new-issue` wrote."""

    path: Path
    issue_id: str
    window: select.Window
    sections: tuple[select.DraftSection, ...]
    skipped_carried: int  # eligible by date but carried by an earlier issue


def issue_title(settings: Settings, issue_id: str, window: select.Window) -> str:
    month = select.month_of(issue_id) or select.next_month(window.until)
    return f"{settings.name}, {month:%B %Y}"


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when too long."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return f"{cut}…"


def suggest_subject(sections: tuple[select.DraftSection, ...]) -> str:
    """The newest full study's title, plus how many more: something for the editor to rewrite."""
    items = [s for section in sections for s in section.items]
    lead = newest_first([s for s in items if not s.is_teaser] or items)[0]
    more = f" + {len(items) - 1} more" if len(items) > 1 else ""
    return _shorten(lead.title, SUBJECT_ADVICE - len(more)) + more


def suggest_preheader(sections: tuple[select.DraftSection, ...]) -> str:
    count = sum(len(section.items) for section in sections)
    topics = ", ".join(section.title.lower() for section in sections)
    noun = "study" if count == 1 else "studies"
    return _shorten(f"{count} new {noun} in plain language: {topics}", 100)


def _q(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: safe for any title.
    return json.dumps(value, ensure_ascii=False)


def draft_text(
    title: str,
    subject: str,
    preheader: str,
    window: select.Window,
    send_at: datetime | None,
    sections: tuple[select.DraftSection, ...],
) -> str:
    """The YAML of a new issue, with comments that tell the editor what was chosen and why."""
    lines = [
        "# Drafted by `newsletter new-issue`. Edit by hand: rewrite the subject and preheader,",
        "# replace the intro's TODO, reorder or remove items. `newsletter build` checks it.",
        f"title: {_q(title)}",
        f"subject: {_q(subject)}  # suggested; at most {SUBJECT_ADVICE} characters show on phones",
        f"preheader: {_q(preheader)}  # suggested",
        f"window: {{since: {window.since.isoformat()}, until: {window.until.isoformat()}}}",
    ]
    if send_at is not None:
        lines.append(f"send_at: {send_at.isoformat()}")
    lines += ["intro: |", f"  {INTRO_TODO}", "sections:"]
    for section in sections:
        lines.append(f"  - title: {_q(section.title)}")
        if section.teasers_only:
            lines.append("    # Teasers only: no full summary in this window fills this section.")
        lines.append("    items:")
        for summary in section.items:
            kind = "teaser, " if summary.is_teaser else ""
            lines.append(f"      - {summary.id}  # {kind}{summary.published}: {_comment(summary.title)}")
        if section.teasers_left_out:
            lines.append("    # Teasers left out because full summaries fill this section (add by hand):")
            lines += [f"    #   {s.id}  # {_comment(s.title)}" for s in section.teasers_left_out]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    return " ".join(text.split())[:90]


def draft_issue(
    settings: Settings,
    issue_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    send_at: datetime | None = None,
    force: bool = False,
    today: date | None = None,
) -> Draft:
    """Draft `issues/<id>.yaml` from the summary store; never overwrites unless `force`."""
    workspace = settings.workspace
    previous = list_issues(workspace)
    default_id, default_window = select.next_issue(previous, today or datetime.now(settings.tz).date())
    if issue_id is None:
        issue_id = default_id
    if not content.ID_PATTERN.match(issue_id):
        raise ContentError(
            f"{issue_id!r}: an issue id uses lowercase letters, digits and hyphens, e.g. 2026-06"
        )
    window = select.window_for(issue_id, [i for i in previous if i.id != issue_id])
    if window is None and issue_id == default_id:
        window = default_window
    if window is None and (since is None or until is None):
        raise ContentError(f"{issue_id!r} is not a monthly id (YYYY-MM): give both --since and --until")
    window = select.Window(since or window.since, until or window.until)
    if window.since > window.until:
        raise ContentError(f"--since {window.since} is after --until {window.until}")
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=settings.tz)

    path = issue_path(workspace, issue_id)
    shown = path.relative_to(workspace)
    if path.exists() and not force:
        raise ContentError(f"{shown} already exists; edit it, or pass --force to draft it again")

    carried = carried_before(settings, issue_id, window, previous)
    send_date = send_at.astimezone(settings.tz).date() if send_at else None
    in_window = select.eligible_summaries(
        content.load_summaries(workspace).values(), window, send_date, set()
    )
    eligible = [s for s in in_window if s.id not in carried]
    if not eligible:
        raise ContentError(
            f"no summaries to draft {issue_id} from: none published {window.since}..{window.until}"
            f"{' that an earlier issue did not carry' if in_window else ''}; "
            "check with `newsletter summaries list --since DATE`"
        )
    sections = select.draft_sections(eligible, load_taxonomy(workspace))
    text = draft_text(
        issue_title(settings, issue_id, window),
        suggest_subject(sections),
        suggest_preheader(sections),
        window,
        send_at,
        sections,
    )
    # The draft must load as a valid issue; a failure here is a bug, not the editor's mistake.
    _, found = issue_problems(parse_yaml(text, shown), issue_id)
    assert not found, found
    atomic_write(path, text)
    return Draft(path, issue_id, window, sections, len(in_window) - len(eligible))
