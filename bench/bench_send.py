"""Benchmark `newsletter send`: messages per second and peak memory, against the bare SMTP ceiling.

Sends the sample workspace's issue (issues/2026-06.yaml and its summaries, when the repository has
it; otherwise a small two-summary issue) to synthetic lists (10,000 and 100,000 subscribers by
default) through (a) the outbox and (b) SMTP to an aiosmtpd sink on loopback, in its own process, with 1 and 4
connections. It also measures the ceiling of that sink: a bare `smtplib` loop sending one
pre-built message over the same number of connections. Each send runs as its own process and
reports its own peak RSS (VmHWM) as it exits. Not wait4's ru_maxrss: Linux carries the spawning
process's high-water mark across exec, so that figure is at least this benchmark's own RSS (which
holds a rendered issue and the ceiling loops' buffers), not the tool's. Not part of the test suite:
it takes minutes. The sink and every send process are stopped by their own process handles on any
exit, Ctrl-C included.

    python bench/bench_send.py                      # 10,000 and 100,000
    python bench/bench_send.py --sizes 2000 --no-outbox
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from delivery_helpers import ISSUE_ID, free_port, write_issue  # noqa: E402

SECRET = "bench-secret-for-unsubscribe-links-0123456789"
TARGET_RATIO = 0.80
TARGET_RSS_MB = 64
SAMPLE_ISSUE = REPO / "issues" / f"{ISSUE_ID}.yaml"
PEAK_MARK = "bench-peak-rss-kb"
# Runs `python -m newsletter` and, at exit, prints the process's own high-water RSS as the last line.
RUN_AND_REPORT_PEAK = f"""
import atexit, re, sys
def report():
    status = open("/proc/self/status").read()
    print("\\n{PEAK_MARK}", re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1), flush=True)
atexit.register(report)
from newsletter.cli import main
main()
"""


def sink_main() -> None:
    """The SMTP sink process: accept every message, print the port, run until stdin closes.

    Stdin closes when the benchmark closes it or dies in any way (even SIGKILL), so the sink never
    outlives it.
    """
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 ok"

    controller = Controller(Discard(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        print(controller.port, flush=True)
        sys.stdin.read()
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group; the benchmark reports it
    finally:
        controller.stop()


def start_sink() -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        return process, int(process.stdout.readline())
    except BaseException:
        stop_process(process)
        raise


def stop_process(process: subprocess.Popen) -> None:
    """Stop one child we started: close its stdin, wait a little, then kill it by its own handle."""
    with contextlib.suppress(OSError):
        if process.stdin:
            process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def make_workspace(root: Path, subscribers: int) -> Path:
    ws = root / f"ws-{subscribers}"
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    for part in ("newsletter.yaml", "topics.yaml"):
        shutil.copy2(REPO / part, ws / part)
    shutil.copytree(REPO / "summaries", ws / "summaries")
    if SAMPLE_ISSUE.is_file():
        shutil.copytree(REPO / "issues", ws / "issues")
    else:
        write_issue(ws)
    folder = ws / "subscribers"
    folder.mkdir()
    with (folder / "readers.csv").open("w", encoding="utf-8") as out:
        out.write("email,name,topics,status,subscribed_at\n")
        for n in range(subscribers):
            out.write(f"reader{n:06d}@example.org,Reader {n},,subscribed,2026-01-01\n")
    (folder / "suppressed.csv").write_text("email,reason,date\n", encoding="utf-8")
    return ws


def one_message(ws: Path) -> bytes:
    """A real message of the issue, built once: what the bare loop sends over and over."""
    os.environ["NEWSLETTER_SECRET"] = SECRET
    from newsletter.mail.factory import MessageFactory
    from newsletter.store import issues
    from newsletter.store.config import load_settings

    settings = load_settings(ws)
    issue, summaries = issues.load_issue_content(ws, ISSUE_ID)
    factory = MessageFactory.for_issue(settings, issue, summaries, SECRET.encode())
    return factory.build("reader000000@example.org").data


def bare_ceiling(port: int, data: bytes, connections: int, messages: int) -> float:
    """Messages per second of a bare smtplib loop over `connections` connections."""
    per = messages // connections

    def loop() -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        for n in range(per):
            conn.sendmail("roundup@msresearch.example.org", [f"reader{n:06d}@example.org"], data)
        conn.quit()

    threads = [threading.Thread(target=loop) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * connections / (time.perf_counter() - start)


def run_send(ws: Path, provider: str, connections: int) -> tuple[float, float, float, float]:
    """(messages/s while sending, wall seconds, peak RSS in MB, wait4's ru_maxrss in MB) of one
    `newsletter send` process; the peak is the process's own, the ru_maxrss only for comparison."""
    shutil.rmtree(ws / ".newsletter", ignore_errors=True)
    shutil.rmtree(ws / "outbox", ignore_errors=True)
    command = [
        sys.executable, "-c", RUN_AND_REPORT_PEAK, "-w", str(ws), "send", ISSUE_ID, "--provider", provider,
        "--yes", "--rate", "1000000", "--concurrency", str(connections),
    ]  # fmt: skip
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out = process.stdout.read()
        _pid, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()  # by its own handle: never leave a send running after the benchmark stops
        process.wait()
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; Popen must not wait again
    wall = time.perf_counter() - start
    found = re.search(r"Sent (\d+) in this run \(([\d.]+) s\)", out)
    peak = re.search(rf"^{PEAK_MARK} (\d+)$", out, re.MULTILINE)
    if status != 0 or not found or not peak:
        raise SystemExit(f"send failed ({status}):\n{out}")
    rate = int(found.group(1)) / float(found.group(2))
    return rate, wall, int(peak.group(1)) / 1024, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="10000,100000", help="List sizes, comma-separated.")
    parser.add_argument("--no-outbox", action="store_true", help="Skip the outbox runs.")
    parser.add_argument("--ceiling-messages", type=int, default=4000, help="Messages in each bare-loop run.")
    parser.add_argument(
        "--root", type=Path, help="Folder for the synthetic workspaces (default: a temp dir)."
    )
    args = parser.parse_args()
    if args.sink:
        sink_main()
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-send-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    sink, port = start_sink()
    try:
        sample = make_workspace(root, 1)
        data = one_message(sample)
        issue = f"the sample issue {SAMPLE_ISSUE.name}" if SAMPLE_ISSUE.is_file() else "a two-summary issue"
        print(f"{issue}; message size: {len(data) / 1024:.1f} KB ({len(data)} bytes)", flush=True)
        print(f"sink on 127.0.0.1:{port} (own process, pid {sink.pid})", flush=True)
        for size in sizes:
            ws = make_workspace(root, size)
            runs = [("outbox", "outbox", 4)] if not args.no_outbox else []
            runs += [(f"smtp x{c}", f"smtp://127.0.0.1:{port}", c) for c in (1, 4)]
            for label, provider, connections in runs:
                ratio = ""
                if provider.startswith("smtp"):
                    # The sink's speed drifts on a shared machine: measure its ceiling right before each run.
                    ceiling = bare_ceiling(port, data, connections, args.ceiling_messages)
                rate, wall, rss, maxrss = run_send(ws, provider, connections)
                if provider.startswith("smtp"):
                    ratio = f"bare ceiling {ceiling:.0f} msg/s, ratio {rate / ceiling:.0%}"
                row = f"{size:>7} subscribers  {label:<9} {rate:5.0f} msg/s  wall {wall:6.1f} s  "
                row += f"peak RSS {rss:4.0f} MB (ru_maxrss {maxrss:3.0f})  {ratio}"
                print(row, flush=True)
            shutil.rmtree(ws)
    finally:
        stop_process(sink)
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"targets: >= {TARGET_RATIO:.0%} of the bare ceiling with 4 connections; RSS < {TARGET_RSS_MB} MB")


if __name__ == "__main__":
    main()
