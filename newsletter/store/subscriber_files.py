"""The subscriber CSV files: their layout, the one CSV reader, row validation, the writer's lock.

A list is a UTF-8 CSV (`subscribers/<list>.csv`) with a header row and at least
`email,name,topics,status,subscribed_at`; `topics` is a `;`-separated preference list (empty
means everything), `status` one of `subscribed`, `unsubscribed`, `bounced`. Optional columns:
`first_name` (how the email greets them; else taken from `name`) and `large_text` (yes/no: the
larger-text edition).
`subscribers/suppressed.csv` (`email,reason,date`) wins over every list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import ContentError
from newsletter.store import fileio
from newsletter.store import validate as v
from newsletter.store.addresses import address_key, check_display_name, normalise_address
from newsletter.store.topics import Taxonomy, load_taxonomy

SUBSCRIBERS_DIR = "subscribers"
SUPPRESSED_FILE = "suppressed.csv"
STATUSES = ("subscribed", "unsubscribed", "bounced")
LIST_FIELDS = ("email", "name", "topics", "status", "subscribed_at")
SUPPRESSED_FIELDS = ("email", "reason", "date")
Aliases = Mapping[str, tuple[str, ...]]  # our field name -> column names that mean it (casefolded)
OPTIONAL_FIELDS = ("first_name", "large_text")
OUR_COLUMNS: Aliases = {name: (name,) for name in (*LIST_FIELDS, *OPTIONAL_FIELDS)}
_YES, _NO = {"yes", "y", "true", "1", "x"}, {"no", "n", "false", "0", ""}


@dataclass(frozen=True)
class Subscriber:
    """One row of a list, validated; `email` is normalised (the domain lower-cased)."""

    email: str
    name: str
    topics: tuple[str, ...]
    status: str
    subscribed_at: str
    list_name: str
    first_name: str = ""  # from a first_name column; "" lets the email find it in `name`
    large_text: bool = False  # the larger-text edition

    @property
    def key(self) -> str:
        return address_key(self.email)


# --- where the files are ------------------------------------------------------------------------


def folder(workspace: Path) -> Path:
    return workspace / SUBSCRIBERS_DIR


def list_names(workspace: Path) -> list[str]:
    """The lists in the workspace: every `subscribers/*.csv` except the suppression list."""
    lists = folder(workspace)
    if not lists.is_dir():
        return []
    return sorted(
        p.stem for p in lists.glob("*.csv") if p.name != SUPPRESSED_FILE and not p.name.startswith(".")
    )


def list_path(workspace: Path, name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith(".") or f"{name}.csv" == SUPPRESSED_FILE:
        raise ContentError(f"{name!r} is not a list name; use a plain name such as readers")
    return folder(workspace) / f"{name}.csv"


def shown(workspace: Path, path: Path) -> str:
    """A path as the user knows it: relative to the workspace where it is inside it."""
    try:
        return str(path.relative_to(workspace))
    except ValueError:
        return str(path)


# --- reading: one CSV reader --------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A CSV file as read: its header (as written) and its rows with line numbers."""

    path: Path
    fieldnames: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]  # (line, {our field name: value})
    raw: tuple[dict[str, str], ...]  # the rows under the file's own column names


def _columns(fieldnames: tuple[str, ...], aliases: Aliases, where: str) -> dict[str, int]:
    """Our field name -> the index of the file's column for it; the email column is required."""
    columns: dict[str, str] = {}
    for column in fieldnames:
        folded = (column or "").strip().casefold()
        for ours, names in aliases.items():
            if folded in names and ours not in columns:
                columns[ours] = column
    if "email" not in columns:
        found = ", ".join(fieldnames) or "nothing"
        raise ContentError(f"{where}:1: no email column in the header row (found: {found})")
    # A repeated column name: the last one wins, as in csv.DictReader's dict(zip(header, row)).
    return {ours: max(i for i, c in enumerate(fieldnames) if c == col) for ours, col in columns.items()}


def _records(path: Path, where: str) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) for the header and then each non-empty record; errors name the file and line."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # a BOM from a spreadsheet is not a column
    except FileNotFoundError:
        raise ContentError(f"{where}: file not found") from None
    except OSError as exc:
        raise ContentError(f"{where}: cannot read ({exc.strerror})") from None
    with handle:
        # csv.reader, not DictReader: a dict per row twice over was a third of the time at 100,000 rows.
        reader = csv.reader(handle)
        try:
            yield 1, next(reader, [])
            line = reader.line_num
            for record in reader:
                if record:  # DictReader skips empty lines too
                    yield line + 1, record
                line = reader.line_num
        except UnicodeDecodeError as exc:
            raise ContentError(f"{where}:{_undecodable_line(path)}: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise ContentError(f"{where}:{reader.line_num}: unreadable CSV: {exc}") from None


def _undecodable_line(path: Path) -> int:
    """The first line that is not UTF-8 (text is decoded in blocks, so the error itself cannot say)."""
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _mapped(record: list[str], index: dict[str, int]) -> dict[str, str]:
    return {ours: record[i] if i < len(record) else "" for ours, i in index.items()}


def stream_rows(path: Path, where: str, aliases: Aliases) -> Iterator[tuple[int, dict[str, str]]]:
    """A file's rows one at a time as (line, {our field name: value}): memory stays flat."""
    records = _records(path, where)
    _, header = next(records)
    index = _columns(tuple(header), aliases, where)
    for line, record in records:
        yield line, _mapped(record, index)


def read_table(path: Path, where: str, aliases: Aliases) -> Table:
    """A whole file at once: for rewriting it (unsubscribe, import), where every row is needed."""
    records = _records(path, where)
    _, header = next(records)
    fieldnames = tuple(header)
    index = _columns(fieldnames, aliases, where)
    rows, raw = [], []
    for line, record in records:
        rows.append((line, _mapped(record, index)))
        raw.append(dict(zip(fieldnames, record, strict=False)))
    return Table(path, fieldnames, tuple(rows), tuple(raw))


# --- rows as subscribers ------------------------------------------------------------------------


def topic_vocabulary(taxonomy: Taxonomy) -> dict[str, str]:
    """Every preference a subscriber may name: section titles and tags, casefolded -> as written."""
    names = [s.title for s in taxonomy.sections] + [taxonomy.more_research] + list(taxonomy.vocabulary)
    vocabulary: dict[str, str] = {}
    for name in names:
        vocabulary.setdefault(name.casefold(), name)
    return vocabulary


def row_subscriber(row: dict[str, str], list_name: str, vocabulary: dict[str, str]) -> Subscriber:
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
    first_name = " ".join((row.get("first_name") or "").split())
    large_text = (row.get("large_text") or "").strip().casefold()
    if large_text not in _YES | _NO:
        reasons.append(f"large_text {large_text!r} is not yes or no")
    if reasons:
        raise ValueError("; ".join(reasons))
    return Subscriber(
        email, name, tuple(topics), status, subscribed_at, list_name, first_name, large_text in _YES
    )


def read_rows(workspace: Path, name: str, vocabulary: dict[str, str]) -> Iterator[Subscriber | str]:
    """Each row of a list in file order: a Subscriber, or `file:line: reason` if it is invalid."""
    path = list_path(workspace, name)
    where = shown(workspace, path)
    for line, row in stream_rows(path, where, OUR_COLUMNS):
        if not any(value.strip() for value in row.values()):
            continue  # a blank line at the end of a hand-edited file
        try:
            yield row_subscriber(row, name, vocabulary)
        except ValueError as exc:
            yield f"{where}:{line}: {exc}"


def read_list(
    workspace: Path, name: str, taxonomy: Taxonomy | None = None
) -> tuple[list[Subscriber], list[str]]:
    """The valid subscribers of one list, in file order, and its invalid rows as `file:line: reason`."""
    valid, invalid = [], []
    vocabulary = topic_vocabulary(taxonomy or load_taxonomy(workspace))
    for subscriber_or_problem in read_rows(workspace, name, vocabulary):
        if isinstance(subscriber_or_problem, Subscriber):
            valid.append(subscriber_or_problem)
        else:
            invalid.append(subscriber_or_problem)
    return valid, invalid


def suppressed_addresses(workspace: Path) -> dict[str, str]:
    """Every suppressed address (casefolded) with its reason; read fresh each time."""
    path = folder(workspace) / SUPPRESSED_FILE
    if not path.is_file():
        return {}
    table = read_table(path, shown(workspace, path), {"email": ("email",), "reason": ("reason",)})
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


# --- writing ------------------------------------------------------------------------------------


@contextmanager
def locked(workspace: Path) -> Iterator[None]:
    """One writer at a time, across threads and processes (the endpoint and the CLI may overlap)."""
    with fileio.locked(folder(workspace) / ".lock"):
        yield


def csv_text(fieldnames: Iterable[str], rows: Iterable[dict[str, str]]) -> str:
    """Rows as CSV text with a header; a row's missing columns are written empty."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(fieldnames), lineterminator="\n", extrasaction="ignore", restval=""
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()
