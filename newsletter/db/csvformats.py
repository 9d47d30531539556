"""How other tools' CSV exports name things: the columns and statuses of Mailchimp, Buttondown, Substack
and listmonk.

Functions from a file's header and rows to our fields; `csvimport` merges them into the database.
Mailchimp exports each status to its own file (subscribed, unsubscribed with UNSUB_TIME, cleaned with
CLEAN_TIME) and quotes each tag inside TAGS (`"MRI","Caregivers"`); Buttondown says `subscriber_type`;
Substack marks opt-outs with `email_disabled`; listmonk says `enabled`/`disabled`/`blocklisted`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from newsletter.db.addresses import check_name, normalise_address
from newsletter.db.schema import Status
from newsletter.errors import ContentError
from newsletter.names import split_name

# Our field -> the column names tools use for it (compared casefolded, spaces and dashes as underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "email_address", "e_mail", "e_mail_address", "mail", "subscriber_email"),
    "first_name": ("first_name", "firstname", "fname", "given_name"),
    "last_name": ("last_name", "lastname", "lname", "surname", "family_name"),
    "name": ("name", "full_name", "display_name", "subscriber_name"),
    "topics": ("topics", "tags", "interests", "preferences"),
    "large_text": ("large_text", "larger_text"),
    "status": ("status", "state", "email_marketing", "subscription_status", "subscriber_type", "type"),
    "subscribed_at": (
        "subscribed_at",
        "created_at",
        "created",
        "creation_date",
        "date",
        "signup_date",
        "subscribed",
        "subscription_date",
        "optin_time",
    ),
    "consent_at": ("consent_at", "confirm_time", "confirmed_at", "optin_time", "opted_in_at"),
    "consent_ip": ("consent_ip", "confirm_ip", "optin_ip"),
    "unsub_time": ("unsub_time", "unsubscribed_at"),
    "clean_time": ("clean_time", "cleaned_at"),
    "email_disabled": ("email_disabled",),
}

STATUSES: dict[str, Status] = {
    **dict.fromkeys(
        (
            "",
            "subscribed",
            "active",
            "enabled",
            "regular",
            "premium",
            "paid",
            "free",
            "confirmed",
            "trialed",
            "gifted",
            "churned",
            "comp",
        ),
        Status.SUBSCRIBED,
    ),
    **dict.fromkeys(
        ("pending", "unconfirmed", "unactivated", "unverified", "non_subscribed", "nonsubscribed"),
        Status.PENDING,
    ),
    **dict.fromkeys(
        (
            "unsubscribed",
            "disabled",
            "removed",
            "opted_out",
            "inactive",
            "blocklisted",
            "blacklisted",
            "blocked",
        ),
        Status.UNSUBSCRIBED,
    ),
    **dict.fromkeys(("cleaned", "bounced", "undeliverable", "hard_bounce"), Status.BOUNCED),
    **dict.fromkeys(("complained", "spam", "spammy", "abuse", "complaint"), Status.COMPLAINED),
}

_TRUE = {"true", "yes", "1", "t", "y", "x"}
# A cell a spreadsheet would run as a formula (OWASP's CSV injection list): exported behind an apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FALSE = {"false", "no", "0", "f", "n"}


def spreadsheet_safe(cell: str) -> str:
    """A cell as an export writes it: one a spreadsheet would evaluate gets a leading apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def from_spreadsheet_safe(cell: str) -> str:
    """A cell as an import reads it: the apostrophe `spreadsheet_safe` added is taken off again."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


@lru_cache(maxsize=1024)  # a file repeats a few statuses a million times
def folded(column: str) -> str:
    return "_".join(column.strip().casefold().replace("-", " ").split())


def columns(header: list[str]) -> dict[str, int]:
    """Our field -> the index of the file's column for it (the first alias present wins)."""
    index = {folded(name): n for n, name in reversed(list(enumerate(header)))}
    found: dict[str, int] = {}
    for field, names in ALIASES.items():
        for name in names:
            if name in index:
                found[field] = index[name]
                break
    return found


def parse_tags(value: str) -> list[str]:
    """`MRI;Caregivers` (ours), `MRI, Caregivers`, or Mailchimp's `"MRI","Gut, and more"`."""
    value = value.strip()
    if not value:
        return []
    if ";" in value and '"' not in value:
        return [part.strip() for part in value.split(";") if part.strip()]
    return [part.strip() for part in next(csv.reader([value], skipinitialspace=True)) if part.strip()]


def parse_moment(value: str) -> datetime | None:
    """An ISO 8601 date or date-time (naive means UTC, as the tools export); ValueError if it is neither."""
    value = value.strip()
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace(" UTC", "").replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    first_name: str
    last_name: str
    topics: tuple[str, ...]
    unknown_topics: tuple[str, ...]
    status: Status
    subscribed_at: datetime | None
    consent_at: datetime | None
    consent_ip: str | None
    large_text: bool | None = None  # None: the file does not say; keep what the database holds


def status_of(values: Mapping[str, str]) -> Status:
    """The row's status: its status column, else what Mailchimp's and Substack's extra columns imply."""
    raw = values.get("status")
    if raw is not None and folded(raw) in STATUSES:
        status = STATUSES[folded(raw)]
        if status != Status.SUBSCRIBED:
            return status
    elif raw is not None:
        raise ValueError(
            f"unknown status {raw.strip()!r}; use subscribed, pending, unsubscribed, cleaned or "
            "complained (or another tool's word for them)"
        )
    if values.get("unsub_time", "").strip():
        return Status.UNSUBSCRIBED
    if values.get("clean_time", "").strip():
        return Status.BOUNCED
    if values.get("email_disabled", "").strip().casefold() in _TRUE:
        return Status.UNSUBSCRIBED
    return Status.SUBSCRIBED


def parse_row(
    line: int, values: Mapping[str, str], vocabulary: Mapping[str, str] | None, keep_ip: bool = False
) -> ImportRow:
    """One row (our field -> text) as an ImportRow; ValueError says everything wrong with it."""
    reasons: list[str] = []
    email = ""
    try:
        email = normalise_address(values.get("email", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    first, last = values.get("first_name", "").strip(), values.get("last_name", "").strip()
    if not (first or last) and values.get("name"):
        first, last = split_name(values["name"])
    for value, what in ((first, "first name"), (last, "last name")):
        problem = check_name(value, what)
        if problem:
            reasons.append(problem)
    status = Status.SUBSCRIBED
    try:
        status = status_of(values)
    except ValueError as exc:
        reasons.append(str(exc))
    moments: dict[str, datetime | None] = {}
    for field in ("subscribed_at", "consent_at"):
        try:
            moments[field] = parse_moment(values.get(field, ""))
        except ValueError:
            reasons.append(f"{field} {values[field].strip()!r} is not a date (YYYY-MM-DD or ISO 8601)")
    large_text = None
    if values.get("large_text", "").strip():
        flag = values["large_text"].strip().casefold()
        if flag not in _TRUE | _FALSE:
            reasons.append(f"large_text {values['large_text'].strip()!r} is not yes or no")
        large_text = flag in _TRUE
    if reasons:
        raise ValueError("; ".join(reasons))
    known, unknown = [], []
    for tag in parse_tags(values.get("topics", "")):
        topic = tag if vocabulary is None else vocabulary.get(tag.casefold())
        if topic is None:
            unknown.append(tag)
        elif topic not in known:
            known.append(topic)
    ip = values.get("consent_ip", "").strip()[:64] if keep_ip else ""
    return ImportRow(
        line,
        email,
        first,
        last,
        tuple(known),
        tuple(unknown),
        status,
        moments["subscribed_at"],
        moments["consent_at"] or moments["subscribed_at"],
        ip or None,
        large_text,
    )


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, our field -> text) for each non-blank row; ContentError for an unreadable file."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # a spreadsheet's BOM is not a column
    except OSError as error:
        raise ContentError(f"{path}: cannot read it ({error.strerror})") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            found = columns(header)
            if "email" not in found:
                raise ContentError(
                    f"{path}:1: no email column in the header row (found: {', '.join(header) or 'nothing'})"
                )
            line = reader.line_num
            for record in reader:
                if any(cell.strip() for cell in record):
                    yield (
                        line + 1,
                        {
                            ours: from_spreadsheet_safe(record[i]) if i < len(record) else ""
                            for ours, i in found.items()
                        },
                    )
                line = reader.line_num
        except UnicodeDecodeError as exc:
            raise ContentError(
                f"{path}:{_undecodable_line(path)}: not UTF-8 text ({exc.reason}); "
                "save the file as UTF-8 and import it again"
            ) from None
        except csv.Error as exc:
            raise ContentError(f"{path}:{reader.line_num}: unreadable CSV: {exc}") from None


def _undecodable_line(path: Path) -> int:
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1
