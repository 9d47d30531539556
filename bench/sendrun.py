"""One `newsletter send` as a user runs it: a workspace with N subscribers, the send process, its figures.

Each run gets a fresh copy of the workspace, so no ledger or outbox of an earlier run is resumed.
The process reports its own peak RSS (VmHWM) and the CPU time it used (user + system, all its
threads) as it exits: a send is one process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchkit import SAMPLE_ISSUE, bench_env, copy_sample_workspace, entry_point, newsletter_command

PEAK_MARK = "bench-peak-rss-kb"
# The console script's function, with the process's own high-water RSS printed at exit as the last line.
RUN_AND_REPORT_PEAK = """
import atexit, importlib, re, resource, sys
def report():
    status = open("/proc/self/status").read()
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = used.ru_utime + used.ru_stime
    print("\\n{mark}", re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1), f"{{cpu:.3f}}", flush=True)
atexit.register(report)
sys.argv[0] = "newsletter"
getattr(importlib.import_module("{module}"), "{function}")()
"""
# Names like the sample list's: one reader in five has a non-ASCII name (an encoded To header).
NAMES = ("Ana Reader", "Ben Caregiver", "Chloé Lefèvre", "Dev Patel", "Erin Nurse")
_PROGRESS = re.compile(r"(\d+)/(\d+)\s+sent (\d+)\b.*?\s([\d.]+)/s")
_SENT_LINE = re.compile(r"Sent (\d+) in this run \(([\d.]+) s\)")


@dataclass(frozen=True)
class SendRun:
    """The figures of one send: messages/s while sending, the whole process's wall time, peak memory."""

    rate: float
    wall: float
    peak_mb: float
    cpu_us_per_message: float = 0.0  # the process's CPU time (all threads, start-up included) per message


def make_workspace(dest: Path, subscribers: int, ascii_names: bool = False) -> Path:
    """The sample workspace with its lists replaced by one list of `subscribers` readers, in its database."""
    ws = copy_sample_workspace(dest)
    folder = ws / "subscribers"
    for old in folder.glob("*.csv"):
        old.unlink()
    with (folder / "readers.csv").open("w", encoding="utf-8") as out:
        out.write("email,name,topics,status,subscribed_at\n")
        for n in range(subscribers):
            name = "Reader" if ascii_names else NAMES[n % len(NAMES)]
            out.write(f"reader{n:06d}@example.org,{name} {n},,subscribed,2026-01-01\n")
    (folder / "suppressed.csv").write_text("email,reason,date\n", encoding="utf-8")
    # The state database made and the lists moved into it once, here, as in a workspace that sends
    # every month: a measured send is a send, not also the workspace's first use (Alembic, the CSV).
    command = [*newsletter_command(), "-w", str(ws), "db", "upgrade"]
    done = subprocess.run(command, env=bench_env(), capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"preparing the workspace's database failed:\n{done.stdout}{done.stderr}")
    return ws


def send_command(ws: Path, provider: str, concurrency: int, python: Path | None = None) -> list[str]:
    """The send as a user runs it; `python` is another installation's interpreter (same entry point)."""
    module, function = entry_point()
    code = RUN_AND_REPORT_PEAK.format(mark=PEAK_MARK, module=module, function=function)
    return [
        str(python or sys.executable), "-c", code, "-w", str(ws), "send", SAMPLE_ISSUE,
        "--provider", provider, "--yes", "--rate", "1000000", "--concurrency", str(concurrency),
    ]  # fmt: skip


def one_message(scratch: Path) -> bytes:
    """The bytes the product hands its provider for the first reader: what the bare loops send."""
    ws = make_workspace(scratch / "one-message", 1)
    command = [*newsletter_command(), "-w", str(ws), "send", SAMPLE_ISSUE, "--provider", "outbox", "--yes"]
    done = subprocess.run(command, env=bench_env(), capture_output=True, text=True, timeout=120)
    files = sorted((ws / "outbox").rglob("*.eml"))
    if done.returncode != 0 or not files:
        raise SystemExit(f"sending the sample issue to the outbox failed:\n{done.stdout}{done.stderr}")
    data = files[0].read_bytes()
    shutil.rmtree(ws)
    return data


def parse_rate(output: str, expected: int, wall: float) -> float:
    """Messages/s of the send itself, as the product reports it; the whole wall time if it does not."""
    progress = _PROGRESS.findall(output)
    if progress:
        done, _total, sent, rate = progress[-1]
        if int(sent) != expected:
            raise SystemExit(f"the send sent {sent} of {expected}:\n{output[-3000:]}")
        return float(rate)
    sent_line = _SENT_LINE.search(output)
    if sent_line and float(sent_line.group(2)) > 0:
        return int(sent_line.group(1)) / float(sent_line.group(2))
    return expected / wall


def run_send(
    template: Path, scratch: Path, provider: str, concurrency: int, expected: int, python: Path | None = None
) -> SendRun:
    """Copy `template` to a fresh workspace, send its issue through `provider`, and return the figures."""
    ws = scratch / "run"
    shutil.rmtree(ws, ignore_errors=True)
    shutil.copytree(template, ws)
    command = send_command(ws, provider, concurrency, python)
    start = time.perf_counter()
    # Started in the scratch folder: `python -c` puts the working folder first on sys.path, so a run
    # from a checkout would import that checkout's package, whatever installation `python` belongs to.
    process = subprocess.Popen(
        command, env=bench_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=scratch
    )
    try:
        output, _ = process.communicate(timeout=3600)
    finally:
        if process.poll() is None:
            process.kill()  # by its own handle: never leave a send running after the benchmark stops
            process.wait()
        shutil.rmtree(ws, ignore_errors=True)
    wall = time.perf_counter() - start
    peak = re.search(rf"^{PEAK_MARK} (\d+) ([\d.]+)$", output, re.MULTILINE)
    if process.returncode != 0 or not peak:
        raise SystemExit(f"send through {provider} failed (exit {process.returncode}):\n{output[-3000:]}")
    rate = parse_rate(output, expected, wall)
    return SendRun(rate, wall, int(peak.group(1)) / 1024, float(peak.group(2)) * 1e6 / expected)
