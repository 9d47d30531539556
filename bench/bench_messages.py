"""How fast complete personalised messages are made: messages per second and bytes per message.

Renders the sample issue once (issues/2026-06.yaml, or all full summaries when it is missing),
then builds N messages for synthetic subscribers (a third with non-ASCII names, a sixth with
topic preferences) and prints the median of several runs: messages per second, and the CPU time
(of this thread: steadier than the clock on a shared machine) per message to build it and to build
it with the payload SMTP's DATA sends (dot-stuffed: prepared by the factory, or `dot_stuffed` over
the message where it is not). The slow reference path (a
fresh EmailMessage per recipient) is timed on a sample for comparison.

    python bench/bench_messages.py [--messages 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from newsletter.mail.factory import MessageFactory
from newsletter.providers.smtp import dot_stuffed
from newsletter.store.config import load_settings
from newsletter.store.content import load_summaries
from newsletter.store.models import Issue, Section
from newsletter.store.subscriber_files import Subscriber

REPO = Path(__file__).resolve().parent.parent
SECRET = b"bench-secret-0123456789abcdef"


def sample_issue(workspace: Path):
    if (workspace / "issues" / "2026-06.yaml").is_file():
        from newsletter.store.issues import load_issue_content

        return load_issue_content(workspace, "2026-06")
    summaries = load_summaries(workspace)
    full = sorted(s.id for s in summaries.values() if not s.is_teaser)
    half = len(full) // 2
    issue = Issue(
        id="2026-06",
        title="MS Research Roundup, June 2026",
        subject="New research in plain language",
        preheader="Studies explained",
        since=date(2000, 1, 1),
        until=date(2100, 1, 1),
        intro="A note from the editor.",
        sections=(
            Section("Immune cells and inflammation", tuple(full[:half])),
            Section("More research", tuple(full[half:])),
        ),
    )
    return issue, summaries


def audience(n: int) -> list[Subscriber]:
    names = ["Ana Reader", "Chloé Lefèvre", "Nurse, Erin", "Dev Patel", "Zoë Ångström", "Sam O'Neil"]
    people = []
    for i in range(n):
        topics = ("Immune cells and inflammation",) if i % 6 == 5 else ()
        people.append(
            Subscriber(f"reader{i}@example.com", names[i % len(names)], topics, "subscribed", "", "bench")
        )
    return people


def smtp_payload(message) -> bytes:
    """What the SMTP provider sends for a message: its prepared payload, else the message dot-stuffed."""
    payload = getattr(message, "payload", None)  # an installation from before prepared payloads has none
    return payload if payload is not None else dot_stuffed(message.data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings(REPO)
    issue, summaries = sample_issue(REPO)
    people = audience(args.messages)
    rates, sizes, cpu_build, cpu_payload = [], [], [], []
    for _ in range(args.runs):
        factory = MessageFactory.for_issue(settings, issue, summaries, SECRET)
        factory.build(people[0])
        factory.build(people[5])  # render both section sets before the clock starts
        start, cpu = time.perf_counter(), time.thread_time()
        total = sum(len(factory.build(p).data) for p in people)
        elapsed = time.perf_counter() - start
        cpu_build.append((time.thread_time() - cpu) / len(people))
        rates.append(len(people) / elapsed)
        sizes.append(total / len(people))
        cpu = time.thread_time()
        for p in people:
            smtp_payload(factory.build(p))
        cpu_payload.append((time.thread_time() - cpu) / len(people))
    sample = people[:200]
    start = time.perf_counter()
    for p in sample:
        factory.reference_message(factory.parts(p)).as_bytes()
    slow = len(sample) / (time.perf_counter() - start)
    print(
        f"fast path: {statistics.median(rates):,.0f} messages/s (median of {args.runs} runs of {len(people)})"
    )
    print(f"CPU per message: build {statistics.median(cpu_build) * 1e6:.1f} us, ", end="")
    print(f"build and SMTP payload {statistics.median(cpu_payload) * 1e6:.1f} us")
    print(f"bytes per message: {statistics.median(sizes):,.0f}; renders per run: {factory.renders}")
    print(f"reference EmailMessage path: {slow:,.0f} messages/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
