"""Who an issue goes to: the lists' subscribed addresses, each once, less opt-outs and suppressions."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import ContentError, problems
from newsletter.store.subscriber_files import (
    OUR_COLUMNS,
    SUBSCRIBERS_DIR,
    Subscriber,
    list_names,
    list_path,
    read_rows,
    row_subscriber,
    shown,
    stream_rows,
    suppressed_addresses,
    topic_vocabulary,
)
from newsletter.store.topics import load_taxonomy

INVALID_SHOWN = 20  # invalid rows listed in an error; the rest are counted


@dataclass(frozen=True)
class Audience:
    """Who an issue goes to, and how many were left out and why."""

    recipients: list[Subscriber]
    suppressed: int = 0  # subscribed in a list, but on the suppression list
    unsubscribed: int = 0
    bounced: int = 0
    duplicates: int = 0  # extra rows for an address already counted
    invalid: list[str] = field(default_factory=list)  # "file:line: reason"


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
        path = list_path(workspace, name)
        for _line, row in stream_rows(path, shown(workspace, path), OUR_COLUMNS):
            if (row.get("status") or "subscribed").strip().lower() == "subscribed":
                continue
            try:
                subscriber = row_subscriber(row, name, vocabulary)
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
        for subscriber in read_rows(workspace, name, vocabulary):
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
