"""The commands editors and operators wait for, timed at the sizes they run them, on SQLite and PostgreSQL.

Three parts, each optional:

* `--sizes sample,large`: every command of the table in issue 27 (`status`, `status --json`,
  `send --dry-run`, `check`, `archive --all`, `subscribers export`, `subscribers list`,
  `new-issue`, `build`, `bounces fetch` on an empty Dovecot mailbox, `preview`'s first page and the
  first click on each of the desk's pages), interleaved with the floors
  a command cannot go under (`python -c pass`, `import sqlalchemy`, Jinja2 + MJML + premailer, and
  `mkdocs --help` when installed). The large workspace has 300 summaries, 24 sent issues with
  their ledger and reports, and 100,000 subscribers (a fifth with non-ASCII names, topics,
  opt-outs).
* `--million`: `send --dry-run` and `subscribers export` at 1,000,000 subscribers, with peak RSS.
* `--imports 100000,1000000`: `subscribers import` of an N-row CSV against the database's own
  bulk load of the same file (`sqlite3 .import`, `psql \\copy`), with peak RSS.

The workspaces are generated straight into the database with plain SQL (after `newsletter db
upgrade` made the schema): sending 24 issues to 100,000 readers to build a ledger would take hours.
`--newsletter CMD` times another installation (say, main before a change) on the same data.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchkit import bench_env, copy_sample_workspace, machine_line, newsletter_command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SAMPLE_ISSUE = "2026-06"  # the sample's unsent issue: dry-run, check and build use it
NON_ASCII = ["Zoë", "José", "Łukasz", "Søren", "Chloé", "Müller", "Nguyễn", "Óscar", "Ægir", "Çelik"]
ASCII = ["Ana", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kim", "Lee"]
TOPICS = ["Gut and microbiome", "Immune cells and inflammation", "Treatments and care", "MRI", "Caregivers"]
SUMMARY_TOPICS = [["Microglia"], ["Gut bacteria"], ["MRI", "Biomarkers"], ["Remyelination"], ["Treatment"]]
FIRST_SENT = date(2024, 6, 1)  # the 24 sent issues: 2024-06 ... 2026-05


# -- running one command ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process (and its children)
    peak_mb: float  # its peak resident set


GNU_TIME = Path("/usr/bin/time")


def timed(command: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Timing:
    """Run one command to its end; its wall time, CPU time (from wait4) and peak RSS, or SystemExit.

    The peak RSS is GNU time's (`%M`) when it is installed: Linux counts in a child's peak the memory
    of the process it was forked from, up to its exec, so wait4 here would report this benchmark's
    own size (hundreds of MB after generating a million readers) for `python -c pass`.
    """
    peak_file = Path(tempfile.mkstemp(prefix="bench-peak-")[1])
    run = [str(GNU_TIME), "-f", "%M", "-o", str(peak_file), *command] if GNU_TIME.exists() else list(command)
    started = time.perf_counter()
    try:
        with open(os.devnull, "wb") as devnull:
            process = subprocess.Popen(run, cwd=cwd, env=env, stdout=devnull, stderr=subprocess.PIPE)
            assert process.stderr is not None
            errors = process.stderr.read()
            _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 3):  # 3: `check` found warnings it reports as such
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {errors.decode()[-2000:]}")
        written = peak_file.read_text().split()
        peak = int(written[-1]) / 1024 if GNU_TIME.exists() and written else usage.ru_maxrss / 1024
    finally:
        peak_file.unlink(missing_ok=True)
    return Timing(wall, usage.ru_utime + usage.ru_stime, peak)


def _cpu_of(pid: int) -> float:
    """A running process's user + system CPU seconds so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served_page(
    command: Sequence[str], path: str, env: dict[str, str], from_start: bool, timeout: float = 120.0
) -> Timing:
    """Start a server command (`preview`, `desk`) on a free port and GET one page of it.

    `from_start`: the time from starting the command to the page's last byte (what a person waits
    for after typing the command); else only the GET, on the server just started (the first click
    on that page). CPU is the server's over the same span; the server is stopped either way.
    """
    import urllib.request

    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # the server prints its URL once it listens
            seen.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if found:
                break
        else:
            raise SystemExit(f"{' '.join(command)} did not start: {''.join(seen)[-2000:]}")
        url = found.group(0) + path.lstrip("/")
        begin, cpu = (started, 0.0) if from_start else (time.perf_counter(), _cpu_of(process.pid))
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
        wall, cpu = time.perf_counter() - begin, _cpu_of(process.pid) - cpu
        peak = _peak_mb(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return Timing(wall, cpu, peak)


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def rounds(variants: dict[str, Callable[[], Timing]], count: int) -> dict[str, list[Timing]]:
    """Every variant once per round, the order rotating, so drift on a shared machine hits all alike."""
    names = list(variants)
    found: dict[str, list[Timing]] = {name: [] for name in names}
    for n in range(count):
        shift = n % len(names)
        for name in names[shift:] + names[:shift]:
            found[name].append(variants[name]())
        print(f"  round {n + 1}/{count} done", file=sys.stderr)
    return found


# -- the floors --------------------------------------------------------------------------------------

FLOORS = {
    "python -c pass": "pass",
    "import sqlalchemy": "import sqlalchemy",
    "import jinja2+mjml+premailer": "import jinja2, mjml, premailer",
}
# What each command must at least load: a database, the renderer, or both.
FLOOR_OF = {
    "status": "import sqlalchemy",
    "status --json": "import sqlalchemy",
    "send --dry-run": "import sqlalchemy",
    "check": "import jinja2+mjml+premailer",
    "check (no SpamAssassin)": "import jinja2+mjml+premailer",
    "archive --all": "import jinja2+mjml+premailer",
    "subscribers export": "import sqlalchemy",
    "subscribers list": "import sqlalchemy",
    "new-issue": "python -c pass",
    "build": "import jinja2+mjml+premailer",
    "bounces fetch": "import sqlalchemy",
    "preview (first page)": "import jinja2+mjml+premailer",
}  # the desk's pages are requests to a server already running: no process floor


def floor_variants(env: dict[str, str]) -> dict[str, Callable[[], Timing]]:
    found: dict[str, Callable[[], Timing]] = {
        name: (lambda code=code: timed([sys.executable, "-c", code], env=env))
        for name, code in FLOORS.items()
    }
    mkdocs = shutil.which("mkdocs") or shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs:
        found["mkdocs --help"] = lambda: timed([mkdocs, "--help"], env=env)
    return found


def command_variants(
    tool: list[str], ws: Path, env: dict[str, str], imap: bool
) -> dict[str, Callable[[], Timing]]:
    out = ws / "bench-out"

    def run(*args: str) -> Callable[[], Timing]:
        return lambda: timed([*tool, "-w", str(ws), *args], cwd=ws, env=env)

    found = {
        "status": run("status"),
        "status --json": run("status", "--json"),
        "send --dry-run": run("send", SAMPLE_ISSUE, "--dry-run"),
        "check": run("check", SAMPLE_ISSUE),
        # the budget's check: SpamAssassin's run apart (it may run beside the other checks); with only
        # the tool's own folder on PATH, check finds no spamassassin and says so
        "check (no SpamAssassin)": lambda: timed(
            [*tool, "-w", str(ws), "check", SAMPLE_ISSUE],
            cwd=ws,
            env={**env, "PATH": str(Path(tool[0]).parent)},
        ),
        "archive --all": run("archive", "--all", "--out", str(out / "archive")),
        "subscribers export": run("subscribers", "export", "--out", str(out / "export.csv")),
        "subscribers list": run("subscribers", "list"),
        "new-issue": run("new-issue", "2026-07", "--since", "2025-12-01", "--until", "2026-09-30", "--force"),
        "build": run("build", SAMPLE_ISSUE, "--out", str(out / "build")),
    }
    if imap:
        found["bounces fetch"] = run("bounces", "fetch")

    def page(args: Sequence[str], path: str, from_start: bool) -> Callable[[], Timing]:
        return lambda: served_page([*tool, "-w", str(ws), *args], path, env, from_start)

    # preview: from the command to its first page; the desk: the first click on each page of a desk
    # just started (its start-up is the preview's kind of wait, and is in the first figure)
    found["preview (first page)"] = page(["preview", SAMPLE_ISSUE], "/", from_start=True)
    found["desk: issues page"] = page(["desk"], "/", from_start=False)
    found["desk: issue editor page"] = page(["desk"], f"/issues/{SAMPLE_ISSUE}", from_start=False)
    found["desk: summaries page"] = page(["desk"], "/summaries", from_start=False)
    return found


# -- generating the large workspace ------------------------------------------------------------------


def months(first: date, count: int) -> list[date]:
    found, year, month = [], first.year, first.month
    for _ in range(count):
        found.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def write_content(ws: Path, summaries: int, issues: int) -> list[tuple[str, list[str]]]:
    """`summaries` summary files spread over the sent issues' windows, and one issue file per sent issue."""
    starts = months(FIRST_SENT, issues)
    per_issue: dict[str, list[str]] = {f"{m:%Y-%m}": [] for m in starts}
    for n in range(summaries):
        window = starts[n % issues]
        published = (window - timedelta(days=1 + n % 27)).replace(day=1) + timedelta(days=n % 27)
        sid = f"{published:%Y-%m-%d}-bench-study-{n:03d}"
        topics = SUMMARY_TOPICS[n % len(SUMMARY_TOPICS)]
        (ws / "summaries" / f"{sid}.yaml").write_text(
            f"title: 'Bench study {n}: what a trial of remyelination found'\n"
            f"url: https://msresearch.example.org/research/bench-study-{n}\n"
            f"published: {published:%Y-%m-%d}\n"
            f"topics: [{', '.join(topics)}]\n"
            "takeaway: A plain-language takeaway of two sentences. It says what the study means.\n"
            "found: What they found, in a few sentences a reader with MS can follow.\n"
            "who_should_care: People with relapsing MS and their carers.\n"
            "considerations: A small study in mice; it needs confirming in people.\n",
            encoding="utf-8",
        )
        per_issue[f"{window:%Y-%m}"].append(sid)
    runs = []
    for start, (issue, items) in zip(starts, per_issue.items(), strict=True):
        before = start - timedelta(days=1)
        (ws / "issues" / f"{issue}.yaml").write_text(
            f'title: "MS Research Roundup, {start:%B %Y}"\n'
            f'subject: "Research news, {start:%B %Y}"\n'
            'preheader: "New studies in plain language"\n'
            f"window: {{since: {before.replace(day=1):%Y-%m-%d}, until: {before:%Y-%m-%d}}}\n"
            "intro: |\n  This month's studies, explained.\n"
            'sections:\n  - title: "Research"\n    items:\n' + "".join(f"      - {sid}\n" for sid in items),
            encoding="utf-8",
        )
        runs.append((issue, items))
    return runs


class Loader:
    """Rows into the database's own tables, as fast as it takes them: COPY on PostgreSQL, executemany on
    SQLite (the bench's generator, not the product's code)."""

    def __init__(self, url: str):
        self.postgresql = url.startswith("postgresql")
        self.connection: Any
        if self.postgresql:
            import psycopg

            self.connection = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
        else:
            import sqlite3

            self.connection = sqlite3.connect(url.removeprefix("sqlite:///"))

    def scalar(self, sql: str) -> object:
        return self.connection.execute(sql).fetchone()[0]

    def has_table(self, name: str) -> bool:
        if self.postgresql:
            return self.scalar(f"SELECT to_regclass('{name}') IS NOT NULL") is True
        return (
            self.scalar(f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}'") == 1
        )

    def moment(self, value: datetime) -> str:
        if self.postgresql:
            return value.isoformat()
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def flag(self, value: bool) -> object:
        return ("t" if value else "f") if self.postgresql else int(value)

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        if self.postgresql:
            cursor = self.connection.cursor()
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        batch: list[Sequence[object]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 20_000:
                self.connection.executemany(sql, batch)
                batch = []
        self.connection.executemany(sql, batch)

    def commit(self) -> None:
        self.connection.commit()
        if self.postgresql:
            self.connection.autocommit = True
            self.connection.execute("VACUUM ANALYZE")
        else:
            self.connection.execute("ANALYZE")
        self.connection.close()


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    first: str
    last: str
    topics: tuple[str, ...]
    status: str


def people(count: int) -> Iterator[Person]:
    rng = random.Random(27)
    for n in range(1, count + 1):
        names = NON_ASCII if n % 5 == 0 else ASCII
        first, last = rng.choice(names), rng.choice(names) + "-" + str(n % 97)
        roll = rng.random()
        status = (
            "unsubscribed" if roll < 0.04 else "bounced" if roll < 0.05 else "complained" if roll < 0.051
            else "pending" if roll < 0.06 else "subscribed"
        )  # fmt: skip
        topics = tuple(rng.sample(TOPICS, n % 3))
        yield Person(n, f"reader{n}@example{n % 50}.org", first, last, topics, status)


def fill_database(url: str, subscribers: int, sent: list[tuple[str, list[str]]]) -> None:
    """Subscribers with their topics, opt-outs and consent events; `sent` issues with their ledgers and
    the bounces, complaints and unsubscribes that came back."""
    db = Loader(url)
    salt = str(db.scalar("SELECT value FROM meta WHERE key = 'hash_salt'"))
    # `--newsletter` may time an installation from before the table (schema 0003 and older)
    kept_counts = db.has_table("run_counts")
    now = datetime.now(UTC)
    joined = datetime(2024, 1, 2, 9, tzinfo=UTC)
    db.load("lists", ["id", "name", "created_at"], [(1, "readers", db.moment(joined))])
    everyone = list(people(subscribers))
    digest = {p.id: hashlib.sha256(f"{salt}:{p.email.casefold()}".encode()).hexdigest() for p in everyone}
    db.load(
        "subscribers",
        ["id", "email", "email_key", "first_name", "last_name", "large_text", "created_at", "updated_at"],
        (
            (
                p.id,
                p.email,
                p.email,
                p.first,
                p.last,
                db.flag(p.id % 17 == 0),
                db.moment(joined),
                db.moment(joined),
            )
            for p in everyone
        ),  # fmt: skip
    )
    db.load(
        "memberships",
        ["subscriber_id", "list_id", "status", "subscribed_at", "consent_at", "consent_source", "updated_at"],
        (
            (p.id, 1, p.status, db.moment(joined), db.moment(joined), "import", db.moment(joined))
            for p in everyone
        ),
    )
    db.load(
        "topic_preferences",
        ["subscriber_id", "topic", "position"],
        ((p.id, topic, n) for p in everyone for n, topic in enumerate(p.topics)),
    )
    db.load(
        "suppressions",
        ["email_key", "email_hash", "reason", "source", "created_at"],
        (
            (p.email, digest[p.id], f"{p.status} in readers", "import", db.moment(joined))
            for p in everyone
            if p.status in ("bounced", "complained", "unsubscribed")
        ),  # fmt: skip
    )
    events = [
        (p.id, digest[p.id], "subscribed", db.moment(joined), "import", json.dumps({"list": "readers"}))
        for p in everyone
    ]
    audience = [p for p in everyone if p.status == "subscribed"]
    rng = random.Random(24)
    for issue, items in sent:
        start = datetime(int(issue[:4]), int(issue[5:]), 2, 13, tzinfo=UTC)
        db.load(
            "runs",
            ["issue_id", "state", "provider", "started_at", "updated_at", "finished_at"],
            [
                (
                    issue,
                    "finished",
                    "smtp",
                    db.moment(start),
                    db.moment(start),
                    db.moment(start + timedelta(hours=3)),
                )
            ],
        )
        db.load("issue_summaries", ["issue_id", "summary_id"], ((issue, s) for s in items))
        states = {}
        for p in audience:
            roll = rng.random()
            states[p.id] = "failed_permanent" if roll < 0.003 else "skipped" if roll < 0.004 else "sent"
        db.load(
            "recipients",
            [
                "issue_id",
                "email",
                "list_name",
                "name",
                "first_name",
                "topics",
                "large_text",
                "subscribed_at",
                "state",
                "attempts",
                "last_error",
                "added_at",
                "updated_at",
                "sent_at",
            ],  # fmt: skip
            (
                (
                    issue,
                    p.email,
                    "readers",
                    f"{p.first} {p.last}",
                    p.first,
                    ";".join(p.topics),
                    db.flag(p.id % 17 == 0),
                    "2024-01-02",
                    states[p.id],
                    1,
                    "550 5.1.1 user unknown" if states[p.id] == "failed_permanent" else "",
                    db.moment(start),
                    db.moment(start),
                    db.moment(start),
                )
                for p in audience
            ),  # fmt: skip
        )
        tally: dict[str, int] = {}
        for state in states.values():
            tally[state] = tally.get(state, 0) + 1
        if kept_counts:  # a finished run keeps its counts as `newsletter send` leaves them (run_counts)
            db.load(
                "run_counts", ["issue_id", "state", "recipients"], ((issue, s, n) for s, n in tally.items())
            )
        for p in rng.sample(audience, len(audience) // 100):  # 1 % reported: bounces, complaints
            roll = rng.random()
            kind = "bounced" if roll < 0.5 else "soft_bounced" if roll < 0.95 else "complained"
            detail = json.dumps({"issue": issue, "notification": f"{issue}-{p.id}", "class": kind})
            events.append(
                (p.id, digest[p.id], kind, db.moment(start + timedelta(days=1)), "bounce mailbox", detail)
            )
        for p in rng.sample(audience, len(audience) // 500):  # 0.2 % unsubscribe after each issue
            at = min(now, start + timedelta(days=2))
            events.append((p.id, digest[p.id], "unsubscribed", db.moment(at), "one-click", "{}"))
        print(f"  ledger of {issue}: {len(audience)} recipients", file=sys.stderr)
    db.load("events", ["subscriber_id", "email_hash", "kind", "at", "source", "detail"], events)
    db.commit()


def make_workspace(
    root: Path, url: str | None, tool: list[str], env: dict[str, str], subscribers: int, summaries: int,
    issues: int,
) -> Path:  # fmt: skip
    """A workspace of the given size (0 subscribers: the repository's sample as it is)."""
    ws = copy_sample_workspace(root)
    if url:
        settings = ws / "newsletter.yaml"
        settings.write_text(settings.read_text() + f"database: {url}\n")
    if subscribers:
        for csv_file in (ws / "subscribers").glob("*.csv"):
            csv_file.unlink()  # the sample's five readers would be moved in on first use
    subprocess.run([*tool, "-w", str(ws), "db", "upgrade"], env=env, check=True, capture_output=True)
    if subscribers:
        sent = write_content(ws, summaries, issues) if issues else []
        fill_database(url or f"sqlite:///{ws / '.newsletter' / 'state.sqlite3'}", subscribers, sent)
    return ws


# -- PostgreSQL and Dovecot ------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server() -> Iterator[Callable[[str], str]]:
    """A PostgreSQL server on loopback; yields a function making a fresh database and returning its URL."""
    from bench_db import postgres  # the send benchmark's server: default durability, trust on loopback

    with postgres() as url:
        import psycopg

        def fresh(name: str) -> str:
            with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name}".encode())
                admin.execute(f"CREATE DATABASE {name}".encode())
            return url.rsplit("/", 1)[0] + "/" + name

        yield fresh


@contextlib.contextmanager
def empty_mailbox(ws: Path, env: dict[str, str]) -> Iterator[bool]:
    """An empty Dovecot mailbox that `bounces fetch` reads (False when Dovecot is not installed)."""
    try:
        from dovecot_server import start_dovecot, stop_dovecot
    except ImportError:
        yield False
        return
    if not Path("/usr/sbin/dovecot").exists() and not shutil.which("dovecot"):
        yield False
        return
    root = Path(tempfile.mkdtemp(prefix="bench-imap-", dir="/tmp"))
    server = start_dovecot(root)
    try:
        settings = ws / "newsletter.yaml"
        settings.write_text(
            settings.read_text()
            + f"bounces:\n  address: bounces@msresearch.example.org\n  imap:\n    host: {server.host}\n"
            f"    port: {server.port}\n    username: {server.user}\n    folder: INBOX\n"
            f"    processed_folder: Processed\n    timeout: 10\n    ca_file: {server.certificates.ca}\n"
        )
        env["NEWSLETTER_BOUNCE_PASSWORD"] = server.password
        yield True
    finally:
        stop_dovecot(server)
        shutil.rmtree(root, ignore_errors=True)


# -- reports -------------------------------------------------------------------------------------------


def report(title: str, results: dict[str, list[Timing]]) -> None:
    base = [t.wall for t in results["python -c pass"]]
    print(f"\n## {title}\n")
    print("| command | wall ms, median (range) | CPU ms | × python -c pass | over its floor, ms |")
    print("|---|---|---|---|---|")
    for name, timings in results.items():
        walls = [t.wall for t in timings]
        ratio = median(w / b for w, b in zip(walls, base, strict=True))
        floor = FLOOR_OF.get(name)
        over = ""
        if floor in results:
            over = f"{median(w - f.wall for w, f in zip(walls, results[floor], strict=True)) * 1000:+.0f}"
        print(
            f"| `{name}` | {median(walls) * 1000:,.0f} ({min(walls) * 1000:,.0f}-{max(walls) * 1000:,.0f}) | "
            f"{median(t.cpu for t in timings) * 1000:,.0f} | {ratio:.1f} | {over} |"
        )
    sys.stdout.flush()


def seconds_row(what: str, timings: list[Timing]) -> str:
    walls = [t.wall for t in timings]
    cpu, peak = median(t.cpu for t in timings), max(t.peak_mb for t in timings)
    return f"| {what} | {median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) | {cpu:.2f} | {peak:.0f} |"


def large_variants(tool: list[str], ws: Path, env: dict[str, str]) -> dict[str, Callable[[], Timing]]:
    return {
        "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env=env),
        "send --dry-run": lambda: timed([*tool, "-w", str(ws), "send", SAMPLE_ISSUE, "--dry-run"], env=env),
        "subscribers export": lambda: timed(
            [*tool, "-w", str(ws), "subscribers", "export", "--out", str(ws / "export.csv")], env=env
        ),
    }


# -- the parts ---------------------------------------------------------------------------------------


def bench_sizes(
    args: argparse.Namespace, tool: list[str], engines: list[str], fresh_pg: Callable | None
) -> None:
    for size in args.sizes:
        for engine in engines:
            root = Path(tempfile.mkdtemp(prefix=f"bench-cmd-{size}-{engine}-", dir=args.root))
            try:
                env = bench_env()
                url = fresh_pg(f"bench_{size}") if engine == "postgresql" and fresh_pg else None
                started = time.perf_counter()
                large = size == "large"
                ws = make_workspace(root / "ws", url, tool, env, args.subscribers if large else 0,
                                    args.summaries if large else 0, args.issues if large else 0)  # fmt: skip
                print(
                    f"# {size} workspace on {engine}: made in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
                with empty_mailbox(ws, env) as imap:
                    variants = {**floor_variants(env), **command_variants(tool, ws, env, imap)}
                    if args.commands:
                        keep = set(args.commands) | set(FLOORS)
                        variants = {k: v for k, v in variants.items() if k in keep}
                    results = rounds(variants, args.rounds)
                what = f"{args.subscribers:,} subscribers, {args.issues} sent issues" if large else "sample"
                report(f"{engine}, {what} workspace ({machine_line()})", results)
            finally:
                shutil.rmtree(root, ignore_errors=True)


def bench_million(
    args: argparse.Namespace, tool: list[str], engines: list[str], fresh_pg: Callable | None
) -> None:
    for engine in engines:
        for count in (100_000, 1_000_000):
            root = Path(tempfile.mkdtemp(prefix=f"bench-1m-{engine}-", dir=args.root))
            try:
                env = bench_env()
                url = fresh_pg(f"bench_m{count}") if engine == "postgresql" and fresh_pg else None
                ws = make_workspace(root / "ws", url, tool, env, count, 0, 0)
                variants = large_variants(tool, ws, env)
                results = rounds(variants, max(1, args.rounds // 2))
                print(f"\n## {engine}, {count:,} subscribers\n")
                print("| command | wall s, median (range) | CPU s | peak RSS MB |\n|---|---|---|---|")
                for name, timings in results.items():
                    print(seconds_row(f"`{name}`", timings))
                sys.stdout.flush()
            finally:
                shutil.rmtree(root, ignore_errors=True)


def write_import_csv(path: Path, rows: int) -> None:
    """A CSV of `rows` readers as another tool exports them: a fifth with non-ASCII names, some opt-outs."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "first_name", "last_name", "topics", "status"])
        for p in people(rows):
            out.writerow([p.email, p.first, p.last, ";".join(p.topics), p.status])


def native_import(url: str | None, ws: Path, path: Path) -> Callable[[], Timing]:
    """The database's own load of the same file into a fresh table of the same columns."""
    columns = "email text, first_name text, last_name text, topics text, status text"
    if url is None:
        db = ws / "native.sqlite3"

        def sqlite() -> Timing:
            db.unlink(missing_ok=True)
            load = f".import --csv --skip 1 {path} staged"
            return timed(["sqlite3", str(db), f"CREATE TABLE staged ({columns});", load])

        return sqlite
    plain = url.replace("postgresql+psycopg", "postgresql")
    script = ws / "native.sql"
    script.write_text(
        f"DROP TABLE IF EXISTS staged;\nCREATE TABLE staged ({columns});\n"
        f"\\copy staged FROM '{path}' WITH (FORMAT csv, HEADER true)\n"
    )

    def copy() -> Timing:
        return timed(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", plain, "-f", str(script)])

    return copy


def bench_imports(
    args: argparse.Namespace, tool: list[str], engines: list[str], fresh_pg: Callable | None
) -> None:
    for engine in engines:
        for count in args.imports:
            root = Path(tempfile.mkdtemp(prefix=f"bench-import-{engine}-", dir=args.root))
            try:
                env = bench_env()
                path = root / "readers.csv"
                write_import_csv(path, count)
                spaces = []
                for n in range(args.import_rounds):
                    url = fresh_pg(f"bench_import_{n}") if engine == "postgresql" and fresh_pg else None
                    spaces.append((url, make_workspace(root / f"ws{n}", url, tool, env, 0, 0, 0)))
                product, native = [], []
                for url, ws in spaces:  # each import into an empty database, the native load beside it
                    product.append(timed([*tool, "-w", str(ws), "subscribers", "import", str(path)], env=env))
                    native.append(native_import(url, ws, path)())
                walls = [p.wall / n.wall for p, n in zip(product, native, strict=True)]
                name = "sqlite3 .import" if engine == "sqlite" else "psql \\copy"
                print(f"\n## import of {count:,} rows on {engine}\n")
                print("| what | wall s, median (range) | CPU s | peak RSS MB |\n|---|---|---|---|")
                for what, timings in (("newsletter subscribers import", product), (name, native)):
                    print(seconds_row(what, timings))
                print(f"\nratio, import by import: {median(walls):.1f} ({min(walls):.1f}-{max(walls):.1f})")
                sys.stdout.flush()
            finally:
                shutil.rmtree(root, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    listed = lambda text: [x for x in text.split(",") if x]  # noqa: E731
    parser.add_argument("--engines", type=listed, default=["sqlite", "postgresql"])
    parser.add_argument(
        "--sizes", type=listed, default=["sample", "large"], help="sample,large ('' for none)"
    )
    parser.add_argument("--commands", type=listed, default=[], help="Only these commands (default: all).")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--summaries", type=int, default=300)
    parser.add_argument("--issues", type=int, default=24)
    parser.add_argument("--million", action="store_true", help="send --dry-run and export at 100k and 1M.")
    parser.add_argument("--imports", type=lambda text: [int(x) for x in listed(text)], default=[],
                        help="Row counts to import, e.g. 100000,1000000.")  # fmt: skip
    parser.add_argument("--import-rounds", type=int, default=3)
    parser.add_argument("--newsletter", help="The command to time (default: the one beside this Python).")
    parser.add_argument("--root", default=None, help="Where the workspaces go (default: the system's temp).")
    return parser.parse_args()


def main() -> None:
    # SIGTERM ends the run like Ctrl-C: the PostgreSQL and Dovecot it started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args()
    tool = args.newsletter.split() if args.newsletter else newsletter_command()
    print(f"# bench_commands: {' '.join(tool)}; {machine_line()}")
    with contextlib.ExitStack() as stack:
        fresh_pg = stack.enter_context(postgres_server()) if "postgresql" in args.engines else None
        bench_sizes(args, tool, args.engines, fresh_pg)
        if args.million:
            bench_million(args, tool, args.engines, fresh_pg)
        if args.imports:
            bench_imports(args, tool, args.engines, fresh_pg)


if __name__ == "__main__":
    main()
