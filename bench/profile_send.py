"""Where a send's time goes: py-spy over `newsletter send` against Postfix's smtp-sink, summarised.

Two recordings of the same send (SMTP, --concurrency 4 by default; one process): one of the samples
holding the interpreter lock (`py-spy record --gil`: what serialises the send's threads), one of every
sample of its threads (the senders, the ledger writer), waiting included (`--idle`: where their wall
time goes). For each it
prints the share of named costs (a stack counts for a cost when any of its frames matches, so the
shares may overlap) and the source lines that were running most often. The raw stacks (py-spy's
`--format raw`, readable by flamegraph.pl or speedscope) are kept with --out.

    pip install py-spy
    python bench/profile_send.py [--messages 4000] [--concurrency 4] [--out profiles/]
"""

from __future__ import annotations

import argparse
import linecache
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchkit import REPO, bench_env, machine_line
from sendrun import make_workspace, parse_rate, send_command
from wire import smtp_sink

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")
# The outermost frame of a thread the send started (the main thread only watches).
THREAD_ROOTS = {"Thread._bootstrap"}
RENDERING = ("jinja2", "mjml", "premailer", "cssutils", "lxml")
SQL = ("execute(", "executemany(", "commit(", '"COMMIT"', "BEGIN")


def _takes_lock(func: str, text: str) -> bool:
    return (
        "acquire" in func or "acquire(" in text or ("with " in text and ("lock" in text or "mutex" in text))
    )


# (label, where, matcher): a matcher gets a frame's function, file and source line; "any" frame of
# a stack may match, or only the "leaf", the innermost Python line (C code below it included).
COSTS = [
    (
        "dot-stuffing each message (providers.smtp.dot_stuffed; smtplib's _quote_periods, _fix_eols)",
        "any",
        lambda f, p, s: f in ("_quote_periods", "_fix_eols", "dot_stuffed"),
    ),
    (
        "joining the payload the factory dot-stuffed (OutgoingMessage.payload)",
        "leaf",
        lambda f, p, s: f == "OutgoingMessage.payload",
    ),
    (
        "smtplib socket writes (SMTP.send)",
        "any",
        lambda f, p, s: f == "SMTP.send" and p.endswith("smtplib.py"),
    ),
    (
        "smtplib reading replies (getreply; the lock is taken back here too)",
        "any",
        lambda f, p, s: f == "SMTP.getreply",
    ),
    ("To header through email.headerregistry", "any", lambda f, p, s: "email/headerregistry" in p),
    ("email package, all of it", "any", lambda f, p, s: p.startswith("email/")),
    ("DKIM signing", "any", lambda f, p, s: p.startswith("dkim/")),
    (
        "building each message (MessageFactory, mail/)",
        "any",
        lambda f, p, s: "MessageFactory" in f or "/mail/" in p,
    ),
    (
        "the ledger, all of it (the writer's group commits, the pages of recipients)",
        "any",
        lambda f, p, s: any(k in p for k in ("/delivery/writer", "/delivery/source", "ledger", "/db/")),
    ),
    ("database statements and commits", "leaf", lambda f, p, s: any(k in s for k in SQL)),
    (
        "a sender waiting for its `sending` to be committed (Writer.marked)",
        "any",
        lambda f, p, s: f == "Writer.marked",
    ),
    ("waiting for a Python lock (with ..._lock/_mutex, acquire)", "leaf", lambda f, p, s: _takes_lock(f, s)),
    ("rendering templates (jinja2, mjml, premailer)", "any", lambda f, p, s: p.split("/")[0] in RENDERING),
]


def source_line(path: str, line: int) -> str:
    """The text of a profiled line, looked up in the repository or on sys.path."""
    for root in [REPO, *map(Path, sys.path)]:
        candidate = root / path
        if candidate.is_file():
            return linecache.getline(str(candidate), line).strip()
    return ""


def parse_stacks(raw: str) -> Counter[tuple[tuple[str, str, str], ...]]:
    """py-spy's raw output ("frame;frame;... count" lines) as stack -> samples; frames (func, file, text)."""
    stacks: Counter[tuple[tuple[str, str, str], ...]] = Counter()
    for row in raw.splitlines():
        text, _, count = row.rpartition(" ")
        if not text or not count.isdigit():
            continue
        frames = []
        for part in text.split(";"):
            match = _FRAME.match(part)
            if match:
                path, line = match["file"], int(match["line"])
                frames.append((match["func"], f"{path}:{line}", source_line(path, line)))
            else:
                frames.append((part, "", ""))
        stacks[tuple(frames)] += int(count)
    return stacks


def thread_stacks(stacks: Counter) -> Counter:
    """Only the stacks of the threads the send started (senders, writer, watchdog)."""
    return Counter({s: n for s, n in stacks.items() if any(frame[0] in THREAD_ROOTS for frame in s)})


def summarise(title: str, stacks: Counter, rate: int, messages: int, top: int) -> None:
    total = sum(stacks.values())
    print(f"\n{title}: {total} samples at {rate}/s; share, and per message (sampled time / messages):")
    if not total:
        return
    for label, where, matches in COSTS:
        hit = sum(
            n
            for stack, n in stacks.items()
            if any(matches(f, p.split(":")[0], s) for f, p, s in (stack[-1:] if where == "leaf" else stack))
        )
        micros = hit / rate / messages * 1e6
        print(f"  {hit / total:6.1%}  {micros:5.0f} us/msg  {label}")
    leaves: Counter[tuple[str, str, str]] = Counter()
    for stack, n in stacks.items():
        leaves[stack[-1]] += n
    print("  most often running (the innermost Python line):")
    for (func, where, text), n in leaves.most_common(top):
        print(f"  {n / total:6.1%}  {func} ({where})  {text[:60]}")


def show(folder: Path, args: argparse.Namespace) -> None:
    """Summarise the two recordings in `folder`; the threads do the sending, the main thread watches."""
    for name, title in (
        ("gil.txt", "the threads' time holding the interpreter lock (py-spy --gil)"),
        ("wall.txt", f"the threads' wall time, waits included (py-spy --idle, {args.concurrency} senders)"),
    ):
        if (folder / name).is_file():
            stacks = thread_stacks(parse_stacks((folder / name).read_text()))
            summarise(title, stacks, args.rate, args.messages, args.top)


def record(py_spy: str, command: list[str], out: Path, mode: str, rate: int) -> str:
    """Run the send under py-spy; returns the send's own output."""
    spy = [py_spy, "record", "--format", "raw", "-o", str(out), "--rate", str(rate)]
    spy += ["--gil"] if mode == "gil" else ["--idle"]
    done = subprocess.run(
        [*spy, "--", *command], env=bench_env(), capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0 or not out.is_file():
        raise SystemExit(f"py-spy failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second.")
    parser.add_argument("--top", type=int, default=15, help="How many source lines to list.")
    parser.add_argument("--out", type=Path, help="Keep the raw stacks here (gil.txt, wall.txt).")
    parser.add_argument("--show", type=Path, metavar="DIR", help="Only summarise the stacks kept in DIR.")
    args = parser.parse_args()
    if args.show:
        show(args.show, args)
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).is_file():
        raise SystemExit("py-spy not found: pip install py-spy")
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = Path(tmp)
        out = args.out or root
        out.mkdir(parents=True, exist_ok=True)
        template = make_workspace(root / "template", args.messages)
        with smtp_sink() as port:
            for mode, name in (("gil", "gil.txt"), ("wall", "wall.txt")):
                ws = root / "run"
                shutil.rmtree(ws, ignore_errors=True)
                shutil.copytree(template, ws)
                command = send_command(ws, f"smtp://127.0.0.1:{port}?starttls=no", args.concurrency)
                output = record(py_spy, command, out / name, mode, args.rate)
                speed = parse_rate(output, args.messages, float("inf"))
                print(
                    f"{mode} recording: {args.messages} messages, {speed:.0f} msg/s under py-spy", flush=True
                )
        show(out, args)
        if args.out:
            print(f"\nraw stacks kept in {out}/gil.txt and {out}/wall.txt")


if __name__ == "__main__":
    main()
