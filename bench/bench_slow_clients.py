"""The subscriber service under a slow-connection attack: do a thousand one-click unsubscribes land?

`newsletter serve`'s server (waitress with the per-client cap and the header deadline, as
bench_service.py starts it, in its own process) on loopback. First 4,000 connections open that
each send one header line every 10 s and never finish (re-opened when the server closes them);
then 1,000 one-click unsubscribes start at once from 100 other loopback addresses, each on its
own connection. Printed: how many slow connections were open, and when each unsubscribe
was answered (the issue's bar: all 1,000 within 10 s). The attack comes from one address, then
from eight (500 each: the per-client cap's worst case). Nothing leaves this machine.

    python bench/bench_slow_clients.py [--slow 4000] [--unsubscribes 1000] [--attackers 1 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from bench_service import prepare
from benchkit import bench_env, copy_sample_workspace, free_port, machine_line, started, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
BAR_S = 10.0


def raise_fd_limit() -> int:
    """This process holds every slow connection and every reader's: lift its descriptor limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def attack(port: int, slow: int, attackers: int, tokens: list[str]) -> str:
    from slow_clients import SlowClients, addresses, unsubscribe_burst

    with SlowClients(port, slow, addresses("127.0.2", attackers), interval=10.0) as clients:
        opened = clients.held()
        landed = unsubscribe_burst(port, tokens, addresses("127.0.1", 100), timeout=60)
        left = clients.held()
        reopened = clients.reopened
    ok = sorted(r.seconds for r in landed if r.status == 200)
    in_time = sum(s <= BAR_S for s in ok)
    statuses = sorted({r.status for r in landed})
    timing = f"median {statistics.median(ok):.2f} s, slowest {ok[-1]:.2f} s" if ok else "none answered"
    verdict = "holds" if in_time == len(tokens) else "BROKEN"
    return (
        f"{slow} slow from {attackers} address(es): {opened} open (accepted or in the backlog; "
        f"{left} after the burst, {reopened} re-opened); {len(tokens)} unsubscribes: {len(ok)} answered 200 "
        f"({in_time} within {BAR_S:.0f} s), {timing}; statuses {statuses}: {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=4000, help="slow connections")
    parser.add_argument("--unsubscribes", type=int, default=1000, help="concurrent one-click requests")
    parser.add_argument("--attackers", type=int, nargs="+", default=[1, 8], help="attacking addresses")
    args = parser.parse_args(argv)

    limit = raise_fd_limit()
    print(machine_line(), f"(load {os.getloadavg()[0]:.1f}; descriptor limit {limit})")
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        workspace = copy_sample_workspace(Path(tmp) / "ws")
        tokens = prepare(workspace, args.unsubscribes * len(args.attackers))
        for level, attackers in enumerate(args.attackers):
            port = free_port()
            bench = str(ROOT / "bench" / "bench_service.py")
            command = [sys.executable, bench, "--serve", str(workspace), str(port), str(free_port())]
            with started(command, env=bench_env()):  # a fresh server for each attack
                wait_for_port(port, timeout=30)
                batch = tokens[level * args.unsubscribes : (level + 1) * args.unsubscribes]
                print(attack(port, args.slow, attackers, batch), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
