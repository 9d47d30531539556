"""Subscriber lists (`subscribers/<list>.csv`) and the suppression list: load, validate, change.

A list is a UTF-8 CSV with a header row and at least `email,name,topics,status,subscribed_at`;
`topics` is a `;`-separated preference list (empty means everything), `status` one of
`subscribed`, `unsubscribed`, `bounced`. `subscribers/suppressed.csv` (`email,reason,date`) wins
over every list: an address on it is never sent to, whatever a list says.

Unsubscribing never deletes a row: it sets the status to `unsubscribed` (so history is kept) and
adds the address to the suppression list. Every write is atomic and serialised by a lock file, so
two unsubscribe requests arriving together both land.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import io
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from newsletter.errors import ContentError, problems
from newsletter.store import validate as v
from newsletter.store.fileio import atomic_write
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy, load_taxonomy

SUBSCRIBERS_DIR = "subscribers"
SUPPRESSED_FILE = "suppressed.csv"
STATUSES = ("subscribed", "unsubscribed", "bounced")
LIST_FIELDS = ("email", "name", "topics", "status", "subscribed_at")
SUPPRESSED_FIELDS = ("email", "reason", "date")
# Column names other tools use for our fields (compared case-insensitively), for `import`.
_ALIASES = {
    "email": ("email", "email address", "e-mail", "e-mail address", "mail"),
    "name": ("name", "full name", "display name"),
    "topics": ("topics", "tags", "interests", "preferences"),
    "status": ("status", "state"),
    "subscribed_at": ("subscribed_at", "subscribed", "created", "created_at", "date", "signup date"),
}
_THREAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Subscriber:
    """One row of a list, validated; `email` is normalised (the domain lower-cased)."""

    email: str
    name: str
    topics: tuple[str, ...]
    status: str
    subscribed_at: str
    list_name: str

    @property
    def key(self) -> str:
        return address_key(self.email)


@dataclass(frozen=True)
class Audience:
    """Who an issue goes to, and how many were left out and why."""

    recipients: list[Subscriber]
    suppressed: int = 0  # subscribed in a list, but on the suppression list
    unsubscribed: int = 0
    bounced: int = 0
    duplicates: int = 0  # extra rows for an address already counted
    invalid: list[str] = field(default_factory=list)  # "file:line: reason"


@dataclass(frozen=True)
class ImportReport:
    list_name: str
    added: int
    updated: int
    unchanged: int
    duplicates: list[str]
    invalid: list[str]


# --- addresses and rows -------------------------------------------------------------------------


def normalise_address(raw: str) -> str:
    """The address as we store and send to it; raises ValueError with a reason if it is not valid."""
    value = raw.strip()
    if "\r" in value or "\n" in value:
        raise ValueError("the address contains a line break")
    return _plain_address(value) or _validated_address(value)


def _validated_address(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None
    return result.ascii_email or result.normalized


_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9.-]+\Z")


def _plain_address(value: str) -> str | None:
    """The common case, normalised as email-validator would, or None to ask email-validator itself.

    email-validator spends most of its time on the domain (IDNA rules), which is the same for every
    reader at gmail.com, so its verdict on each domain is kept. For a dot-atom local part the rest of
    its work is a regex, the RFC 2142 role names and the length limits, repeated here with its own
    constants; anything else (quotes, Unicode, an invalid domain, a length near the limit) goes to
    email-validator whole, so verdicts and messages are exactly its own (a property test checks).
    """
    local, at, domain = value.partition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or not _PLAIN_DOMAIN.match(domain):
        return None
    forms = _domain_forms(domain)
    if forms is None:
        return None
    unicode_domain, ascii_domain = forms
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    for address in (value, f"{local}@{unicode_domain}", f"{local}@{ascii_domain}"):
        if len(address.encode("utf-8")) > EMAIL_MAX_LENGTH:
            return None
    return f"{local}@{ascii_domain}"


@functools.lru_cache(maxsize=4096)
def _domain_forms(domain: str) -> tuple[str, str] | None:
    """email-validator's (Unicode, ASCII) forms of a domain, or None if it refuses the domain."""
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def address_key(email: str) -> str:
    """Addresses compare case-insensitively (in practice no mail system treats case as distinct)."""
    return email.strip().casefold()


_NAME_UNSAFE = re.compile(r"[<>@\x00-\x1f\x7f]")


def check_display_name(name: str) -> str | None:
    """Why a display name cannot go in a To header, or None if it can."""
    if "\r" in name or "\n" in name:
        return "the name contains a line break"
    if _NAME_UNSAFE.search(name):
        # `Eve <eve@evil.example>, Bob` as a name would smuggle in a second recipient
        # wherever a name is written naively; such a name is never a person's name.
        return f"the name {name!r} contains <, > or @ or a control character"
    return None


def topic_vocabulary(taxonomy: Taxonomy) -> dict[str, str]:
    """Every preference a subscriber may name: section titles and tags, casefolded -> as written."""
    names = [s.title for s in taxonomy.sections] + [taxonomy.more_research] + list(taxonomy.vocabulary)
    vocabulary: dict[str, str] = {}
    for name in names:
        vocabulary.setdefault(name.casefold(), name)
    return vocabulary


def _row_subscriber(row: dict[str, str], list_name: str, vocabulary: dict[str, str]) -> Subscriber:
    """One CSV row (keys already our field names) as a Subscriber; ValueError says what is wrong."""
    reasons: list[str] = []
    email = ""
    try:
        email = normalise_address(row.get("email") or "")
    except ValueError as exc:
        reasons.append(str(exc))
    name = (row.get("name") or "").strip()
    bad_name = check_display_name(name)
    if bad_name:
        reasons.append(bad_name)
    status = (row.get("status") or "subscribed").strip().lower()
    if status not in STATUSES:
        reasons.append(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    topics: list[str] = []
    for raw in (row.get("topics") or "").split(";"):
        topic = raw.strip()
        if not topic:
            continue
        known = vocabulary.get(topic.casefold())
        if known is None:
            reasons.append(f"unknown topic {topic!r}; use a section title or a tag from topics.yaml")
        elif known not in topics:
            topics.append(known)
    subscribed_at = (row.get("subscribed_at") or "").strip()
    if subscribed_at and v.parse_date(subscribed_at[:10]) is None:
        reasons.append(f"subscribed_at {subscribed_at!r} is not a date (YYYY-MM-DD)")
    if reasons:
        raise ValueError("; ".join(reasons))
    return Subscriber(email, name, tuple(topics), status, subscribed_at, list_name)


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A CSV file as read: its header (as written) and its rows with line numbers."""

    path: Path
    fieldnames: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]  # (line, {our field name: value})
    raw: tuple[dict[str, str], ...]  # the rows under the file's own column names


def _columns(fieldnames: tuple[str, ...], aliases: dict[str, tuple[str, ...]], shown: str) -> dict[str, str]:
    """Our field name -> the file's column for it; the email column is required."""
    columns: dict[str, str] = {}
    for column in fieldnames:
        folded = (column or "").strip().casefold()
        for ours, names in aliases.items():
            if folded in names and ours not in columns:
                columns[ours] = column
    if "email" not in columns:
        found = ", ".join(fieldnames) or "nothing"
        raise ContentError(f"{shown}:1: no email column in the header row (found: {found})")
    return columns


def _read_table(path: Path, shown: str, aliases: dict[str, tuple[str, ...]]) -> _Table:
    """A whole file at once: for rewriting it (unsubscribe, import), where every row is needed."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from a spreadsheet is not a column
    except FileNotFoundError:
        raise ContentError(f"{shown}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ContentError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fieldnames = tuple(reader.fieldnames or ())
    columns = _columns(fieldnames, aliases, shown)
    rows, raw = [], []
    line = reader.line_num
    try:
        for record in reader:
            rows.append((line + 1, {ours: (record.get(col) or "") for ours, col in columns.items()}))
            raw.append({k: v for k, v in record.items() if k is not None})
            line = reader.line_num
    except csv.Error as exc:
        raise ContentError(f"{shown}:{reader.line_num}: unreadable CSV: {exc}") from None
    return _Table(path, fieldnames, tuple(rows), tuple(raw))


def _stream_rows(
    path: Path, shown: str, aliases: dict[str, tuple[str, ...]]
) -> Iterator[tuple[int, dict[str, str]]]:
    """A file's rows one at a time as (line, {our field name: value}): memory stays flat."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # a BOM from a spreadsheet is not a column
    except FileNotFoundError:
        raise ContentError(f"{shown}: file not found") from None
    with handle:
        # csv.reader, not DictReader: a dict per row twice over was a third of the time at 100,000 rows.
        reader = csv.reader(handle)
        try:
            fieldnames = tuple(next(reader, ()))
            columns = _columns(fieldnames, aliases, shown)
            # A repeated column name: the last one wins, as in DictReader's dict(zip(header, row)).
            index = {
                ours: max(i for i, c in enumerate(fieldnames) if c == col) for ours, col in columns.items()
            }
            line = reader.line_num
            for record in reader:
                if record:  # DictReader skips empty lines too
                    yield line + 1, {ours: record[i] if i < len(record) else "" for ours, i in index.items()}
                line = reader.line_num
        except UnicodeDecodeError as exc:
            where = _undecodable_line(path)
            raise ContentError(f"{shown}:{where}: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise ContentError(f"{shown}:{reader.line_num}: unreadable CSV: {exc}") from None


def _undecodable_line(path: Path) -> int:
    """The first line that is not UTF-8 (text is decoded in blocks, so the error itself cannot say)."""
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _folder(workspace: Path) -> Path:
    return workspace / SUBSCRIBERS_DIR


def list_names(workspace: Path) -> list[str]:
    """The lists in the workspace: every `subscribers/*.csv` except the suppression list."""
    folder = _folder(workspace)
    if not folder.is_dir():
        return []
    return sorted(
        p.stem for p in folder.glob("*.csv") if p.name != SUPPRESSED_FILE and not p.name.startswith(".")
    )


def _list_path(workspace: Path, name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith(".") or f"{name}.csv" == SUPPRESSED_FILE:
        raise ContentError(f"{name!r} is not a list name; use a plain name such as readers")
    return _folder(workspace) / f"{name}.csv"


def _shown(workspace: Path, path: Path) -> str:
    try:
        return str(path.relative_to(workspace))
    except ValueError:
        return str(path)


def suppressed_addresses(workspace: Path) -> dict[str, str]:
    """Every suppressed address (casefolded) with its reason; read fresh each time."""
    path = _folder(workspace) / SUPPRESSED_FILE
    if not path.is_file():
        return {}
    table = _read_table(path, _shown(workspace, path), {"email": ("email",), "reason": ("reason",)})
    found: dict[str, str] = {}
    for _line, row in table.rows:
        raw = row.get("email", "").strip()
        if not raw:
            continue
        # Suppress the address as written even if it is malformed: erring towards not sending.
        found[address_key(raw)] = row.get("reason", "")
        with suppress(ValueError):
            found[address_key(normalise_address(raw))] = row.get("reason", "")
    return found


def is_suppressed(workspace: Path, email: str) -> bool:
    """Whether an address is on the suppression list now (re-read: someone may just have left)."""
    return address_key(email) in suppressed_addresses(workspace)


def read_list(
    workspace: Path, name: str, taxonomy: Taxonomy | None = None
) -> tuple[list[Subscriber], list[str]]:
    """The valid subscribers of one list, in file order, and its invalid rows as `file:line: reason`."""
    valid, invalid = [], []
    vocabulary = topic_vocabulary(taxonomy or load_taxonomy(workspace))
    for subscriber_or_problem in _read_rows(workspace, name, vocabulary):
        if isinstance(subscriber_or_problem, Subscriber):
            valid.append(subscriber_or_problem)
        else:
            invalid.append(subscriber_or_problem)
    return valid, invalid


_OUR_COLUMNS = {name: (name,) for name in LIST_FIELDS}


def _read_rows(workspace: Path, name: str, vocabulary: dict[str, str]) -> Iterator[Subscriber | str]:
    """Each row of a list in file order: a Subscriber, or `file:line: reason` if it is invalid."""
    path = _list_path(workspace, name)
    shown = _shown(workspace, path)
    for line, row in _stream_rows(path, shown, _OUR_COLUMNS):
        if not any(value.strip() for value in row.values()):
            continue  # a blank line at the end of a hand-edited file
        try:
            yield _row_subscriber(row, name, vocabulary)
        except ValueError as exc:
            yield f"{shown}:{line}: {exc}"


INVALID_SHOWN = 20  # invalid rows listed in an error; the rest are counted


@dataclass
class AudienceTally:
    """Counts of an audience as it streams past, complete once the stream is exhausted.

    Filled in place (a stream has no return value); `invalid_rows` keeps the first `keep_invalid`
    problems (None: all), `invalid` counts them all.
    """

    keep_invalid: int | None = INVALID_SHOWN
    recipients: int = 0
    suppressed: int = 0  # subscribed in a list, but on the suppression list
    unsubscribed: int = 0
    bounced: int = 0
    duplicates: int = 0  # extra rows for an address already counted
    invalid: int = 0
    invalid_rows: list[str] = field(default_factory=list)  # "file:line: reason"

    def add_invalid(self, problem: str) -> None:
        self.invalid += 1
        if self.keep_invalid is None or len(self.invalid_rows) < self.keep_invalid:
            self.invalid_rows.append(problem)

    def invalid_error(self) -> ContentError:
        shown = list(self.invalid_rows)
        if self.invalid > len(shown):
            shown.append(f"... and {self.invalid - len(shown)} more")
        header = (
            f"{SUBSCRIBERS_DIR}/ has {self.invalid} invalid row{'s' if self.invalid != 1 else ''}"
            " (fix them, or send with --skip-invalid to leave them out)"
        )
        return ContentError(problems(header, shown))


def _chosen_lists(workspace: Path, list_names_: Iterable[str] | None) -> list[str]:
    available = list_names(workspace)
    chosen = available if list_names_ is None else list(dict.fromkeys(list_names_))
    missing = [n for n in chosen if n not in available]
    if missing:
        have = ", ".join(available) or "none"
        raise ContentError(
            f"{SUBSCRIBERS_DIR}/: no list named {', '.join(missing)} (lists here: {have}); "
            f"a list is a file {SUBSCRIBERS_DIR}/NAME.csv"
        )
    return chosen


def _opted_out(workspace: Path, chosen: list[str], vocabulary: dict[str, str]) -> dict[str, str]:
    """Addresses with an `unsubscribed` or `bounced` row in any chosen list -> the first such status.

    A quick pass before the real one, so that a later row saying "unsubscribed" can stop an earlier
    "subscribed" row without holding every subscriber in memory. Only rows not saying `subscribed`
    are validated here: there are few of them, and an invalid one counts as invalid, not opted out.
    """
    found: dict[str, str] = {}
    for name in chosen:
        path = _list_path(workspace, name)
        for _line, row in _stream_rows(path, _shown(workspace, path), _OUR_COLUMNS):
            if (row.get("status") or "subscribed").strip().lower() == "subscribed":
                continue
            try:
                subscriber = _row_subscriber(row, name, vocabulary)
            except ValueError:
                continue
            found.setdefault(subscriber.key, subscriber.status)
    return found


def iter_audience(
    workspace: Path,
    list_names_: Iterable[str] | None = None,
    tally: AudienceTally | None = None,
    skip_invalid: bool = False,
) -> Iterator[Subscriber]:
    """Everyone an issue goes to from the given lists (all lists when None), each address once, streamed.

    An address is left out if it is on the suppression list, or if any of its rows in the chosen
    lists says `unsubscribed` or `bounced` (never mail someone who asked not to be, even if an
    older row elsewhere still says subscribed). Only the set of addresses seen grows with the list.

    Invalid rows are counted in `tally`; unless `skip_invalid`, the stream ends by raising
    ContentError listing them, after every row was read, so a consumer inside a transaction
    rolls back and the user sees every problem at once.
    """
    tally = tally if tally is not None else AudienceTally()
    chosen = _chosen_lists(workspace, list_names_)
    vocabulary = topic_vocabulary(load_taxonomy(workspace))
    suppressed = suppressed_addresses(workspace)
    opted_out = _opted_out(workspace, chosen, vocabulary)
    with contextlib.closing(_SeenAddresses()) as seen:
        yield from _stream_audience(workspace, chosen, vocabulary, suppressed, opted_out, seen, tally)
    if tally.invalid and not skip_invalid:
        raise tally.invalid_error()


class _SeenAddresses:
    """The addresses already counted, in a private temporary SQLite file rather than a Python set.

    A set of 100,000 addresses costs about 11 MB, which showed as the only growth of a send's
    peak memory from 10,000 to 100,000 subscribers; SQLite keeps at most its page cache in memory.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "" is a private on-disk database, deleted when closed
        self._db.execute("PRAGMA cache_size = -1024")  # KiB: enough for speed, flat whatever the list
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, key: str) -> bool:
        """Record an address; False if it was already there."""
        return self._db.execute("INSERT OR IGNORE INTO seen (key) VALUES (?)", (key,)).rowcount == 1

    def close(self) -> None:
        self._db.close()


def _stream_audience(
    workspace: Path,
    chosen: list[str],
    vocabulary: dict[str, str],
    suppressed: dict[str, str],
    opted_out: dict[str, str],
    seen: _SeenAddresses,
    tally: AudienceTally,
) -> Iterator[Subscriber]:
    """The body of `iter_audience`: first rows of addresses that are neither opted out nor suppressed."""
    for name in chosen:
        for subscriber in _read_rows(workspace, name, vocabulary):
            if not isinstance(subscriber, Subscriber):
                tally.add_invalid(subscriber)
                continue
            key = subscriber.key
            if not seen.add(key):
                tally.duplicates += 1
                continue
            status = opted_out.get(key)
            if status == "unsubscribed":
                tally.unsubscribed += 1
            elif status == "bounced":
                tally.bounced += 1
            elif key in suppressed:
                tally.suppressed += 1
            else:
                tally.recipients += 1
                yield subscriber


def load_audience(
    workspace: Path, list_names_: list[str] | None = None, skip_invalid: bool = False
) -> Audience:
    """The whole audience in memory, for small uses (a preview's sample reader); a send streams it."""
    tally = AudienceTally(keep_invalid=None)
    recipients = list(iter_audience(workspace, list_names_, tally, skip_invalid))
    return Audience(
        recipients,
        suppressed=tally.suppressed,
        unsubscribed=tally.unsubscribed,
        bounced=tally.bounced,
        duplicates=tally.duplicates,
        invalid=tally.invalid_rows,
    )


# --- topic preferences --------------------------------------------------------------------------


def sections_for(
    subscriber_topics: Iterable[str],
    issue: Issue,
    summaries: dict[str, Summary],
    taxonomy: Taxonomy,
) -> tuple[str, ...] | None:
    """The issue's section titles a subscriber gets, in the issue's order; None means all of them.

    A preference names a section title or a tag. A section matches a tag when the taxonomy lists
    the tag under that section or a summary in the section carries it. When nothing matches, the
    subscriber gets the whole issue rather than an empty email.
    """
    wanted = {t.casefold() for t in subscriber_topics}
    if not wanted:
        return None
    section_tags = {s.title.casefold(): {t.casefold() for t in s.tags} for s in taxonomy.sections}
    chosen: list[str] = []
    for section in issue.sections:
        tags = set(section_tags.get(section.title.casefold(), set()))
        for item in section.items:
            summary = summaries.get(item)
            if summary is not None:
                tags.update(t.casefold() for t in summary.topics)
        if section.title.casefold() in wanted or tags & wanted:
            chosen.append(section.title)
    if not chosen or len(chosen) == len(issue.sections):
        return None
    return tuple(chosen)


# --- writing ------------------------------------------------------------------------------------


@contextmanager
def _locked(workspace: Path) -> Iterator[None]:
    """One writer at a time, across threads and processes (the endpoint and the CLI may overlap)."""
    folder = _folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _csv_text(fieldnames: Iterable[str], rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(fieldnames), lineterminator="\n", extrasaction="ignore", restval=""
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _suppress(workspace: Path, email: str, reason: str) -> bool:
    """Add an address to suppressed.csv (caller holds the lock); False if it was already there."""
    path = _folder(workspace) / SUPPRESSED_FILE
    if address_key(email) in suppressed_addresses(workspace):
        return False
    rows: list[dict[str, str]] = []
    fieldnames: tuple[str, ...] = SUPPRESSED_FIELDS
    if path.is_file():
        table = _read_table(path, _shown(workspace, path), {"email": ("email",)})
        fieldnames, rows = table.fieldnames, list(table.raw)
    one_line = " ".join(reason.split())
    rows.append({"email": address_key(email), "reason": one_line, "date": _today()})
    atomic_write(path, _csv_text(fieldnames, rows))
    return True


def _set_status(workspace: Path, email: str, status: str, lists: Iterable[str]) -> list[str]:
    """Set the status of an address's rows in the given lists (caller holds the lock)."""
    key = address_key(email)
    changed: list[str] = []
    for name in lists:
        path = _list_path(workspace, name)
        table = _read_table(path, _shown(workspace, path), _OUR_COLUMNS)
        column = next(c for c in table.fieldnames if c.strip().casefold() == "email")
        status_col = next((c for c in table.fieldnames if c.strip().casefold() == "status"), None)
        rows = [dict(r) for r in table.raw]
        hit = False
        for row in rows:
            if address_key(row.get(column) or "") == key:
                hit = True
                if status_col is not None:
                    row[status_col] = status
        if not hit:
            continue
        fieldnames = table.fieldnames if status_col else (*table.fieldnames, "status")
        if status_col is None:
            for row in rows:
                row.setdefault(
                    "status", status if address_key(row.get(column) or "") == key else "subscribed"
                )
        atomic_write(path, _csv_text(fieldnames, rows))
        changed.append(name)
    return changed


def unsubscribe(workspace: Path, email: str, reason: str, lists: Iterable[str] | None = None) -> list[str]:
    """Mark an address unsubscribed (rows kept) and suppress it; returns the lists changed."""
    with _locked(workspace):
        changed = _set_status(workspace, email, "unsubscribed", lists or list_names(workspace))
        _suppress(workspace, email, reason)
    return changed


def mark_bounced(workspace: Path, email: str, reason: str) -> list[str]:
    """Mark an address bounced in every list and suppress it, so no later issue tries it again."""
    with _locked(workspace):
        changed = _set_status(workspace, email, "bounced", list_names(workspace))
        _suppress(workspace, email, f"bounced: {reason}")
    return changed


def add_subscriber(
    workspace: Path, list_name: str, email: str, name: str = "", topics: str = ""
) -> tuple[Subscriber, bool]:
    """Add (or update) one address in a list; returns it and whether it was new.

    A suppressed address is refused: the suppression list records that the person asked to leave,
    and only they can undo that.
    """
    vocabulary = topic_vocabulary(load_taxonomy(workspace))
    row = {"email": email, "name": name, "topics": topics, "status": "subscribed", "subscribed_at": _today()}
    try:
        subscriber = _row_subscriber(row, list_name, vocabulary)
    except ValueError as exc:
        raise ContentError(f"cannot add {email!r}: {exc}") from None
    with _locked(workspace):
        reason = suppressed_addresses(workspace).get(subscriber.key)
        if reason is not None:
            raise ContentError(
                f"{subscriber.email} is on {SUBSCRIBERS_DIR}/{SUPPRESSED_FILE} "
                f"({reason or 'no reason given'}); "
                "they must subscribe again themselves, or delete that row by hand if they asked you to"
            )
        report = _merge_rows(workspace, list_name, [subscriber])
    return subscriber, report.added == 1


def _merge_rows(workspace: Path, list_name: str, incoming: list[Subscriber]) -> ImportReport:
    """Merge subscribers into a list file (caller holds the lock): update by address, else append."""
    path = _list_path(workspace, list_name)
    fieldnames: tuple[str, ...] = LIST_FIELDS
    rows: list[dict[str, str]] = []
    if path.is_file():
        table = _read_table(path, _shown(workspace, path), _OUR_COLUMNS)
        folded = {c.strip().casefold(): c for c in table.fieldnames}
        missing = [f for f in LIST_FIELDS if f not in folded]
        fieldnames = (*table.fieldnames, *missing)
        rows = [dict(r) for r in table.raw]
        column = {f: folded.get(f, f) for f in LIST_FIELDS}
    else:
        column = {f: f for f in LIST_FIELDS}
    index = {address_key(r.get(column["email"]) or ""): r for r in rows}
    added = updated = unchanged = 0
    for sub in incoming:
        values = {
            column["email"]: sub.email,
            column["name"]: sub.name,
            column["topics"]: ";".join(sub.topics),
            column["status"]: sub.status,
        }
        existing = index.get(sub.key)
        if existing is not None:
            del values[column["email"]]  # keep the address as the list already spells it
        if existing is None:
            row = (
                {f: "" for f in fieldnames}
                | values
                | {column["subscribed_at"]: sub.subscribed_at or _today()}
            )
            rows.append(row)
            index[sub.key] = row
            added += 1
        elif any((existing.get(k) or "") != val for k, val in values.items()):
            existing.update(values)
            updated += 1
        else:
            unchanged += 1
    atomic_write(path, _csv_text(fieldnames, rows))
    return ImportReport(list_name, added, updated, unchanged, [], [])


def import_csv(workspace: Path, source: Path, list_name: str) -> ImportReport:
    """Import another tool's CSV into a list: column names any case, a BOM ignored, bad rows reported."""
    vocabulary = topic_vocabulary(load_taxonomy(workspace))
    table = _read_table(source, str(source), _ALIASES)
    valid: list[Subscriber] = []
    invalid: list[str] = []
    duplicates: list[str] = []
    seen: dict[str, int] = {}
    for line, row in table.rows:
        if not any(value.strip() for value in row.values()):
            continue
        try:
            sub = _row_subscriber(row, list_name, vocabulary)
        except ValueError as exc:
            invalid.append(f"{source}:{line}: {exc}")
            continue
        if sub.key in seen:
            duplicates.append(f"{source}:{line}: {sub.email} repeats line {seen[sub.key]}; kept the first")
            continue
        seen[sub.key] = line
        valid.append(sub)
    with _locked(workspace):
        report = _merge_rows(workspace, list_name, valid)
    return ImportReport(list_name, report.added, report.updated, report.unchanged, duplicates, invalid)


def remove_subscriber(workspace: Path, email: str, lists: list[str] | None = None) -> list[str]:
    """An editor's removal: like an unsubscribe (row kept, address suppressed); the lists changed."""
    try:
        normalised = normalise_address(email)
    except ValueError as exc:
        raise ContentError(str(exc)) from None
    for name in lists or ():
        if name not in list_names(workspace):
            raise ContentError(f"{SUBSCRIBERS_DIR}/{name}.csv: no such list")
    rows, _invalid = all_rows(workspace, lists)
    if not any(row.key == address_key(normalised) for row in rows):
        where = ", ".join(lists) if lists else "any list"
        raise ContentError(
            f"{normalised} is not in {where}; nothing changed (`newsletter subscribers list` shows who is)"
        )
    return unsubscribe(workspace, normalised, "removed by the editor", lists)


def all_rows(workspace: Path, lists: list[str] | None = None) -> tuple[list[Subscriber], list[str]]:
    """Every valid row of the given lists (all when None), in file order, and the invalid rows."""
    names = lists or list_names(workspace)
    taxonomy = load_taxonomy(workspace)
    rows: list[Subscriber] = []
    invalid: list[str] = []
    for name in names:
        if not _list_path(workspace, name).is_file():
            raise ContentError(
                f"{SUBSCRIBERS_DIR}/{name}.csv: no such list (lists: {', '.join(list_names(workspace))})"
            )
        valid, bad = read_list(workspace, name, taxonomy)
        rows.extend(valid)
        invalid.extend(bad)
    return rows, invalid
