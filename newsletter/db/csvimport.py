"""Import a CSV of subscribers (ours or another tool's export) into a list, in one transaction.

One pass over the file validates each row in Python and bulk-loads the valid ones into a staging
table (`csvstage`); a fixed number of set-based statements then merge them (`csvmerge`): an opt-out
anywhere in the file wins over a subscribe, a suppressed or erased address is never resubscribed,
empty cells never blank what is stored, each change is an event. Memory stays flat at any size.
The report says what was added, updated, unchanged, opted out, refused and invalid, each refusal
and invalid row with file:line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from newsletter.db import csvstage, events
from newsletter.db.csvformats import ImportRow, parse_row, read_rows
from newsletter.db.csvmerge import merge
from newsletter.db.engine import writing
from newsletter.db.rows import DEFAULT_LIST, list_id

SHOWN = 20  # refusals and invalid rows listed; the rest counted


@dataclass
class ImportReport:
    list_name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    opted_out: int = 0  # rows saying unsubscribed/cleaned/complained: recorded and suppressed
    suppressed: list[str] = field(default_factory=list)  # "file:line: address is suppressed (reason)"
    invalid: list[str] = field(default_factory=list)  # "file:line: reason"
    duplicates: list[str] = field(default_factory=list)
    unknown_topics: Counter[str] = field(default_factory=Counter)

    @property
    def valid_rows(self) -> int:
        """Rows that were good enough to act on (a duplicate or a suppressed address included)."""
        counted = self.added + self.updated + self.unchanged + self.opted_out
        return counted + len(self.suppressed) + len(self.duplicates)

    def lines(self) -> list[str]:
        head = (
            f"{self.list_name}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.opted_out} opted out, {len(self.suppressed)} suppressed (not resubscribed), "
            f"{len(self.invalid)} invalid, {len(self.duplicates)} duplicate rows"
        )
        lines = [head]
        for problems in (self.invalid, self.suppressed, self.duplicates):
            lines += [f"  {p}" for p in problems[:SHOWN]]
            if len(problems) > SHOWN:
                lines.append(f"  ... and {len(problems) - SHOWN} more")
        if self.unknown_topics:
            tags = ", ".join(f"{tag} ({n})" for tag, n in self.unknown_topics.most_common(10))
            lines.append(f"  tags not in topics.yaml, not kept as topics: {tags}")
        return lines


def _parsed(
    path: Path, vocabulary: Mapping[str, str] | None, keep_ip: bool, report: ImportReport | None
) -> Iterator[ImportRow]:
    for line, values in read_rows(path):
        try:
            yield parse_row(line, values, vocabulary, keep_ip)
        except ValueError as exc:
            if report is not None:
                report.invalid.append(f"{path}:{line}: {exc}")


def import_csv(
    engine: Engine,
    path: Path,
    list_name: str = DEFAULT_LIST,
    vocabulary: Mapping[str, str] | None = None,
    keep_ip: bool = False,
    source: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Merge a CSV file into a list (created if new); all of it or, on an error, none of it.

    `progress` is called with the number of rows loaded so far, a few thousand at a time (the CLI
    draws a progress bar with it).
    """
    with writing(engine) as connection:
        return import_into(connection, path, list_name, vocabulary, keep_ip, source, progress=progress)


def import_into(
    connection: Connection,
    path: Path,
    list_name: str,
    vocabulary: Mapping[str, str] | None = None,
    keep_ip: bool = False,
    source: str = "import",
    as_is: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """`import_csv` inside the caller's transaction (the workspace migration imports every list in one).

    `as_is` (the migration only) records rows of suppressed addresses as the file says, so nothing is
    lost; the suppression still keeps them out of every audience.
    """
    report = ImportReport(list_name)
    lst = list_id(connection, list_name)
    csvstage.create(connection)
    csvstage.load(connection, _parsed(path, vocabulary, keep_ip, report), events.salt(connection), progress)
    merge(connection, lst, path, source, as_is, report)
    csvstage.drop(connection)
    return report
