"""The state database under load: `newsletter send` to Postfix's smtp-sink on SQLite and on PostgreSQL,
one process and three processes sharing a run, and a Mailchimp-style CSV import.

For each engine the workspace's list (N readers) is moved into the database first (`newsletter db
upgrade`, timed as "migrate"), then `send` runs: one process, and on PostgreSQL three processes at
once on the same run (they claim recipients with FOR UPDATE SKIP LOCKED). On SQLite a run has one
sender (a second `send` is refused), so the three-process row is PostgreSQL's only. Each process
reports its own peak RSS (VmHWM). Then `subscribers import` of an N-row Mailchimp export (First Name,
Last Name, TAGS with commas, OPTIN_TIME, CONFIRM_TIME) into an empty database: seconds and peak RSS.

PostgreSQL is Debian's, started here in a temporary folder on loopback with its default durability
(fsync on), and stopped on exit. Nothing leaves 127.0.0.1.

    python bench/bench_db.py --messages 100000
    python bench/bench_db.py --messages 10000 --engines sqlite
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchkit import SAMPLE_ISSUE, bench_env, entry_point, machine_line
from sendrun import PEAK_MARK, RUN_AND_REPORT_PEAK, make_workspace
from wire import smtp_sink

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from postgres_server import _as_server_user, _binary, _free_port  # noqa: E402 - the tests' helpers

_SENT = re.compile(r"Sent (\d+) in this run \(([\d.]+) s\)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="Recipients (and import rows).")
    parser.add_argument("--engines", default="sqlite,postgresql", help="Comma-separated: sqlite,postgresql.")
    parser.add_argument("--concurrency", type=int, default=4, help="Connections per send process.")
    return parser.parse_args()


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server with default durability on loopback; yields a database URL."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise SystemExit("PostgreSQL's initdb/pg_ctl not found (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    shutil.chown(folder, "postgres", "postgres") if _as_server_user(["x"]) != ["x"] else None
    port, user = _free_port(), "postgres" if _as_server_user(["x"]) != ["x"] else "bench"
    data = folder / "data"

    def run(command: list[str]) -> None:
        subprocess.run(_as_server_user(command), check=True, capture_output=True, text=True, timeout=120)

    run([initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"])
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=100"
    run([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"])
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def with_peak(ws: Path, *args: str) -> list[str]:
    module, function = entry_point()
    code = RUN_AND_REPORT_PEAK.format(mark=PEAK_MARK, module=module, function=function)
    return [sys.executable, "-c", code, "-w", str(ws), *args]


def peak_mb(output: str) -> float:
    found = re.search(rf"^{PEAK_MARK} (\d+)$", output, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=bench_env(), capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[3:])} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr}"
        )
    return time.perf_counter() - start, done.stdout + done.stderr


def send(ws: Path, port: int, processes: int, concurrency: int) -> tuple[float, list[float], list[int]]:
    """`processes` sends of one run at once; (messages/s over the wall time, peaks in MB, sent each)."""
    args = ["send", SAMPLE_ISSUE, "--provider", f"smtp://127.0.0.1:{port}", "--yes", "--rate", "1000000",
            "--concurrency", str(concurrency)]  # fmt: skip
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            with_peak(ws, *args), env=bench_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )  # fmt: skip
        for _ in range(processes)
    ]
    outputs = [p.communicate(timeout=7200)[0] for p in running]
    wall = time.perf_counter() - start
    for process, output in zip(running, outputs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"send failed ({process.returncode}):\n{output[-3000:]}")
    sent = [int(m.group(1)) if (m := _SENT.search(o)) else 0 for o in outputs]
    return sum(sent) / wall, [peak_mb(o) for o in outputs], sent


def mailchimp_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("Email Address,First Name,Last Name,TAGS,OPTIN_TIME,CONFIRM_TIME,MEMBER_RATING,LEID\n")
        for n in range(rows):
            tags = '"MRI,Microglia"' if n % 3 == 0 else ""
            out.write(f"m{n:06d}@example.org,Reader,Number {n},{tags},2025-03-01 10:00:00,"
                      f"2025-03-01 10:05:00,2,{n}\n")  # fmt: skip


def use_database(ws: Path, url: str) -> None:
    settings = ws / "newsletter.yaml"
    settings.write_text(settings.read_text() + f"database: {url}\n")


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def bench_engine(
    engine: str, url: str | None, n: int, concurrency: int, scratch: Path, port: int
) -> list[str]:
    rows = []
    for processes in (1, 3):
        if engine == "sqlite" and processes == 3:
            rows.append(
                f"| {engine} | send, 3 processes | n/a: one sender per run on SQLite (others refused) | |"
            )
            continue
        if url:
            reset_postgres(url)
        ws = make_workspace(scratch / f"{engine}-{processes}", n, ascii_names=True)
        if url:
            use_database(ws, url)
        seconds, output = timed(with_peak(ws, "db", "upgrade"))
        if processes == 1:
            what = f"migrate {n:,} CSV rows (first open)"
            rows.append(f"| {engine} | {what} | {seconds:.1f} s | {peak_mb(output):.0f} |")
        rate, peaks, sent = send(ws, port, processes, concurrency)
        each = "; ".join(f"{s:,} sent" for s in sent)
        rows.append(f"| {engine} | send, {processes} process(es) | {rate:.0f} msg/s ({each}) | "
                    f"{' / '.join(f'{p:.0f}' for p in peaks)} |")  # fmt: skip
        if url:
            reset_postgres(url)
        ws2 = make_workspace(scratch / f"{engine}-import-{processes}", 0, ascii_names=True)
        if url:
            use_database(ws2, url)
        if processes == 1:
            export = scratch / "mailchimp.csv"
            mailchimp_csv(export, n)
            timed(with_peak(ws2, "db", "upgrade"))
            seconds, output = timed(with_peak(ws2, "subscribers", "import", str(export)))
            rows.append(
                f"| {engine} | import {n:,}-row Mailchimp CSV | {seconds:.1f} s | {peak_mb(output):.0f} |"
            )
        shutil.rmtree(ws, ignore_errors=True)
        shutil.rmtree(ws2, ignore_errors=True)
    return rows


def main() -> None:
    args = parse_args()
    print(machine_line())
    rows = ["| engine | what | result | peak RSS MB (each process) |", "| --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory(prefix="bench-db-") as tmp, smtp_sink() as port:
        scratch = Path(tmp)
        for engine in args.engines.split(","):  # each engine's rows are printed as soon as they are done
            if engine == "postgresql":
                with postgres() as url:
                    rows += bench_engine(engine, url, args.messages, args.concurrency, scratch, port)
            else:
                rows += bench_engine(engine, None, args.messages, args.concurrency, scratch, port)
            print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
