"""How near the wire `newsletter send` runs: against Postfix's smtp-sink, beside smtplib and smtp-source.

One interleaved run (each trial runs every variant once, in a rotating order; medians of the trials,
the range in brackets) of, all against one `smtp-sink` on 127.0.0.1:

  - `newsletter send` of the sample issue (SMTP provider) at --concurrency 1 and 4;
  - a bare smtplib loop sending the same bytes (one message the product built), 1 and 4 threads;
  - Postfix's C client `smtp-source -d -s 1` and `-s 4` with that same message (`-F`);
  - `newsletter send` to the outbox (.eml files) on the workspace's disk and on tmpfs (/dev/shm);

then the ratios the issue sets targets for (product c4 at least 1,000 messages/s and 1.2 times the
smtplib loop with 4 threads), trial by trial, the send's CPU time per message, and its peak RSS
(VmHWM; a send is one process) at larger lists, which should stay flat.
Needs `smtp-sink`/`smtp-source` (Debian: apt-get install postfix). Nothing leaves 127.0.0.1; every
process it starts is stopped by its own handle on any exit, Ctrl-C included.

    python bench/bench_send.py --quick          # under a minute: 1,000 messages, 5 trials, no RSS runs
    python bench/bench_send.py                  # 10,000 messages, 5 trials, RSS at 10,000 and 100,000
    python bench/bench_send.py --before OLD/.venv/bin/python   # + another installation's sends, same run
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from benchkit import filesystem_of, interleave, machine_line, paired_ratios, spread
from sendrun import SendRun, make_workspace, one_message, run_send
from wire import bare_smtplib, smtp_sink, smtp_source

TARGET_C4_RATE = 1000  # messages/s of one process with --concurrency 4
TARGET_C4 = 1.2  # product c4 / a bare smtplib loop with 4 threads
TMPFS = Path("/dev/shm")


def parse_args() -> argparse.Namespace:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--messages", type=int, default=10_000, help="Messages per variant per trial.")
    parser.add_argument("--trials", type=int, default=5, help="Interleaved trials (medians of these).")
    parser.add_argument("--rss-sizes", default="10000,100000", help="Sizes for the RSS runs ('': none).")
    parser.add_argument("--quick", action="store_true", help="1,000 messages, 5 trials, no RSS runs.")
    parser.add_argument("--ascii-names", action="store_true", help="All-ASCII names (default: 1 in 5 not).")
    parser.add_argument("--no-outbox", action="store_true", help="Leave out the outbox variants.")
    parser.add_argument("--root", type=Path, help="Folder for the workspaces (default: a temp dir).")
    parser.add_argument("--before", type=Path, help="Another installation's python: its sends run too.")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rss_sizes = 1000, ""
    return args


def variants(args, root: Path, port: int, message: Path, data: bytes, runs: dict[str, list[SendRun]]):
    """Each variant as a function returning messages/s; product runs also keep their figures in `runs`."""
    n = args.messages
    template = make_workspace(root / "template", n, args.ascii_names)
    smtp = f"smtp://127.0.0.1:{port}?starttls=no"

    def product(
        provider: str, concurrency: int, label: str, outbox: Path | None = None, python: Path | None = None
    ):
        def run() -> float:
            if outbox:  # each run writes a fresh outbox, as the disk variant does in its fresh workspace
                shutil.rmtree(outbox, ignore_errors=True)
            result = run_send(template, root, provider, concurrency, n, python)
            runs.setdefault(label, []).append(result)
            return result.rate

        return run

    table = {
        "product c1": product(smtp, 1, "product c1"),
        "product c4": product(smtp, 4, "product c4"),
        "smtplib x1": lambda: bare_smtplib(port, data, 1, n),
        "smtplib x4": lambda: bare_smtplib(port, data, 4, n),
        "smtp-source s1": lambda: smtp_source(port, message, 1, n),
        "smtp-source s4": lambda: smtp_source(port, message, 4, n),
    }
    if not args.no_outbox:
        table["outbox c4 disk"] = product("outbox", 4, "outbox c4 disk")
        if TMPFS.is_dir():
            shm = Path(tempfile.mkdtemp(prefix="bench-outbox-", dir=TMPFS))
            table["outbox c4 tmpfs"] = product(f"outbox:{shm}", 4, "outbox c4 tmpfs", shm)
    if args.before:
        table["before c1"] = product(smtp, 1, "before c1", python=args.before)
        table["before c4"] = product(smtp, 4, "before c4", python=args.before)
        if not args.no_outbox:
            table["before outbox disk"] = product("outbox", 4, "before outbox disk", python=args.before)
            if "outbox c4 tmpfs" in table:
                shm_old = Path(tempfile.mkdtemp(prefix="bench-outbox-", dir=TMPFS))
                tmpfs = f"outbox:{shm_old}"
                table["before outbox tmpfs"] = product(tmpfs, 4, "before outbox tmpfs", shm_old, args.before)
    return table


def report(results: dict[str, list[float]], runs: dict[str, list[SendRun]]) -> None:
    print("\nmessages/s, median (min-max) of the trials:")
    for name, rates in results.items():
        extra = ""
        if name in runs:
            walls = [r.wall for r in runs[name]]
            peaks = [r.peak_mb for r in runs[name]]
            cpu = [r.cpu_us_per_message for r in runs[name]]
            extra = (
                f"   process wall {spread(walls, '{:.1f}')} s, CPU {spread(cpu)} us/message,"
                f" peak RSS {spread(peaks)} MB"
            )
        print(f"  {name:<19} {spread(rates):>20}{extra}")
    if "product c4" in results:
        print(f"  (target for product c4: at least {TARGET_C4_RATE} messages/s)")
    print("\nratios, median (min-max) of trial-by-trial ratios:")
    pairs = [
        ("product c4 / smtplib x4", "product c4", "smtplib x4", f"target >= {TARGET_C4}"),
        ("product c1 / smtplib x1", "product c1", "smtplib x1", ""),
        ("product c4 / smtp-source s4", "product c4", "smtp-source s4", ""),
        ("product c4 / product c1", "product c4", "product c1", "what 4 connections gain"),
        ("smtplib x4 / smtp-source s4", "smtplib x4", "smtp-source s4", "Python's own ceiling"),
        ("smtplib x1 / smtp-source s1", "smtplib x1", "smtp-source s1", ""),
        ("outbox disk / outbox tmpfs", "outbox c4 disk", "outbox c4 tmpfs", "the cost of fsync"),
        ("before c1 / smtplib x1", "before c1", "smtplib x1", "before the change"),
        ("before c4 / smtp-source s4", "before c4", "smtp-source s4", "before the change"),
        ("before c4 / smtplib x4", "before c4", "smtplib x4", "before the change"),
        ("before disk / before tmpfs", "before outbox disk", "before outbox tmpfs", "before the change"),
        ("product c1 / before c1", "product c1", "before c1", "after / before"),
        ("product c4 / before c4", "product c4", "before c4", "after / before"),
    ]
    for label, top, bottom, note in pairs:
        if top in results and bottom in results:
            ratios = paired_ratios(results[top], results[bottom])
            print(f"  {label:<28} {spread(ratios, '{:.2f}'):>18}  {note}".rstrip())


def rss_runs(args, root: Path, port: int) -> None:
    sizes = [int(s) for s in args.rss_sizes.split(",") if s.strip()]
    if not sizes:
        return
    print("\npeak RSS of the send (one process; SMTP, --concurrency 4), one run per size:")
    peaks = []
    for size in sizes:
        template = make_workspace(root / f"rss-{size}", size, args.ascii_names)
        result = run_send(template, root, f"smtp://127.0.0.1:{port}?starttls=no", 4, size)
        shutil.rmtree(template)
        peaks.append(result.peak_mb)
        print(
            f"  {size:>7} recipients: peak RSS {result.peak_mb:.0f} MB, {result.rate:.0f} msg/s,"
            f" CPU {result.cpu_us_per_message:.0f} us/message, wall {result.wall:.1f} s",
            flush=True,
        )
    if len(peaks) > 1:
        print(f"  largest / smallest list: {peaks[-1] / peaks[0]:.2f} (flat memory: about 1)")


def main() -> None:
    args = parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-send-"))
    root.mkdir(parents=True, exist_ok=True)
    shm_dirs_before = set(TMPFS.glob("bench-outbox-*")) if TMPFS.is_dir() else set()
    try:
        data = one_message(root)
        message = root / "message.eml"
        message.write_bytes(data)
        print(machine_line())
        print(f"sample issue message: {len(data)} bytes ({len(data) / 1000:.1f} kB)")
        print(f"workspaces on {filesystem_of(root)} ({root})")
        print(f"{args.messages} messages per variant, {args.trials} interleaved trials", flush=True)
        runs: dict[str, list[SendRun]] = {}
        with smtp_sink() as port:
            table = variants(args, root, port, message, data, runs)

            def show(trial: int, rates: dict) -> None:
                cells = "  ".join(f"{k} {v:.0f}" for k, v in rates.items())
                print(f"  trial {trial + 1}: {cells}", flush=True)

            results = interleave(table, args.trials, show)
            report(results, runs)
            rss_runs(args, root, port)
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
        if TMPFS.is_dir():
            for made in set(TMPFS.glob("bench-outbox-*")) - shm_dirs_before:
                shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
