"""How long building an issue takes, how big it is, and how fast finished messages follow.

Prints, each the median of repeated in-process runs:
  - the sample issue (issues/2026-06.yaml): render only, and the whole `build` (load, check, write);
  - a synthetic workspace of 500 summaries: selecting and grouping a month, and rendering a
    30-summary issue;
  - the HTML sizes;
  - complete personalised messages (bytes ready for the provider) per second, via
    factory.MessageFactory.

    /tmp/venv/bin/python bench/bench_build.py [--runs 30] [--messages 3000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from newsletter import render
from newsletter.compose import select
from newsletter.mail.factory import MessageFactory
from newsletter.store import content, issues
from newsletter.store.config import load_settings
from newsletter.store.models import Issue, Section, Summary
from newsletter.store.subscriber_files import Subscriber
from newsletter.store.topics import load_taxonomy

REPO = Path(__file__).resolve().parent.parent
TAGS = ["Microglia", "B cells", "MRI", "Biomarkers", "NMOSD", "Gut microbiome", "Remyelination", "Cats"]


def median_ms(action: Callable[[], object], runs: int) -> float:
    action()  # warm caches (templates compiled, modules loaded) as a long-running build would
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def synthetic_workspace(root: Path, count: int) -> Path:
    for name in ("newsletter.yaml", "topics.yaml"):
        shutil.copy2(REPO / name, root / name)
    for n in range(count):
        published = date(2025, 1, 1) + timedelta(days=n * 730 // count)
        content.write_summary(
            root,
            Summary(
                id=f"{published}-study-{n:03d}",
                title=f"Study {n}: how {TAGS[n % 8].lower()} shape MS over time",
                url=f"https://msresearch.example.org/research/study-{n}",
                published=published,
                journal="Science immunology",
                takeaway="Immune cells in the brain can both repair and harm; timing matters. " * 2,
                topics=(TAGS[n % 8], TAGS[(n * 3) % 8]),
                found="What they found.",
                who_should_care="People with MS and their care teams, because this may guide treatment.",
            ),
        )
    return root


def thirty_summary_issue(summaries: dict[str, Summary], workspace: Path) -> Issue:
    chosen = sorted(summaries.values(), key=lambda s: s.published)[-30:]
    sections = select.draft_sections(chosen, load_taxonomy(workspace))
    return Issue(
        "bench", "MS Research Roundup, Bench", "Thirty studies", "A long issue", chosen[0].published,
        chosen[-1].published, "A note from the editor.",
        tuple(Section(s.title, tuple(x.id for x in s.items)) for s in sections),
    )  # fmt: skip


def message_rate(settings, issue: Issue, summaries: dict[str, Summary], count: int) -> tuple[float, int]:
    factory = MessageFactory.for_issue(settings, issue, summaries, secret=b"bench-secret-0123456789abcdef")
    people = [
        Subscriber(f"reader{n}@example.org", "Zoë Ångström" if n % 3 else f"Reader {n}", (), "subscribed",
                   "2026-01-01", "readers")
        for n in range(count)
    ]  # fmt: skip
    factory.build(people[0])
    start = time.perf_counter()
    total = sum(len(factory.build(person).data) for person in people)
    elapsed = time.perf_counter() - start
    return count / elapsed, total // count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()

    settings = load_settings(REPO)
    issue, summaries = issues.load_issue_content(REPO, "2026-06")
    rendered = render.render_issue(settings, issue, summaries)
    print(f"sample issue 2026-06 ({len(issue.summary_ids)} summaries)")
    only_render = median_ms(lambda: render.render_issue(settings, issue, summaries), args.runs)
    print(f"  render in-process:        {only_render:7.2f} ms")
    with tempfile.TemporaryDirectory() as out:
        build = median_ms(lambda: render.build_issue(settings, "2026-06", Path(out)), args.runs)
    print(f"  whole build (load+write): {build:7.2f} ms")
    parts = (("email.html", rendered.html), ("email.txt", rendered.text), ("web.html", rendered.web_html))
    sizes = {name: len(body.encode()) / 1024 for name, body in parts}
    print("  " + ", ".join(f"{name} {kb:.1f} KB" for name, kb in sizes.items()))

    with tempfile.TemporaryDirectory() as tmp:
        ws = synthetic_workspace(Path(tmp), 500)
        big_settings = load_settings(ws)
        store = content.load_summaries(ws)
        taxonomy = load_taxonomy(ws)
        month = select.Window(date(2026, 5, 1), date(2026, 5, 31))
        pick = median_ms(
            lambda: select.draft_sections(
                select.eligible_summaries(store.values(), month, None, set()), taxonomy
            ),
            args.runs,
        )
        load = median_ms(lambda: content.load_summaries(ws), max(3, args.runs // 10))
        big = thirty_summary_issue(store, ws)
        big_render = median_ms(lambda: render.render_issue(big_settings, big, store), args.runs)
        big_html = render.render_issue(big_settings, big, store).html
        print("synthetic workspace (500 summaries)")
        print(f"  load the store:           {load:7.2f} ms")
        print(f"  select + group a month:   {pick:7.2f} ms")
        print(f"  render 30-summary issue:  {big_render:7.2f} ms   (target < 20 ms)")
        print(f"  30-summary email.html:    {len(big_html.encode()) / 1024:7.1f} KB  (Gmail clips at 102 KB)")

    rate, size = message_rate(settings, issue, summaries, args.messages)
    print(f"complete personalised messages (factory.MessageFactory.build, {args.messages} recipients)")
    print(f"  {rate:,.0f} messages/s, {size / 1024:.1f} KB each   (target > 2,000/s)")


if __name__ == "__main__":
    main()
