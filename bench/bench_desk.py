"""How long the editor's desk takes to answer each action, server side, on the sample workspace and
with 300 summaries (the issue's targets: 200 ms and 500 ms).

Runs the desk's app in-process through Flask's test client (no browser, no network), on a temporary
copy of the sample workspace. An action is what the editor waits for: the POST that changes the
file and the page it comes back to. That page no longer waits for `check`: it fetches the findings
after it is shown (`/issues/<id>/findings`), so each issue-changing action is timed twice, to the
page ("answer", the target) and to the findings in it ("+ check"). Each action runs N times (moves
alternate up and down, so the issue stays the same size); prints the median and the slowest, in ms.

    python bench/bench_desk.py [--runs 15] [--summaries 300]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchkit import SAMPLE_ISSUE, copy_sample_workspace, machine_line

TARGET_MS, LARGE_TARGET_MS = 200, 500
HOST = {"Host": "127.0.0.1:8027"}
FIRST = "2026-05-20-invading-immune-cells-damage-nerves-ms"
SECOND = "2026-05-14-lab-grown-human-microglia-point-targets"
SUMMARY = "2026-05-06-microglia-affect-ms-healing-harm-explained"


def add_summaries(workspace: Path, total: int) -> None:
    """Copies of the sample's summaries under new ids, dated inside the issue's window, up to `total`."""
    folder = workspace / "summaries"
    sources = sorted(folder.glob("*.yaml"))
    n = len(sources)
    while n < total:
        source = sources[n % len(sources)]
        text = source.read_text(encoding="utf-8")
        text = re.sub(r"^published: .*$", f"published: 2026-05-{1 + n % 28:02d}", text, flags=re.M)
        (folder / f"2026-05-{1 + n % 28:02d}-bench-copy-{n:04d}.yaml").write_text(text, encoding="utf-8")
        n += 1


class Session:
    def __init__(self, workspace: Path):
        from newsletter.web.desk import create_app
        from newsletter.web.desk.context import Access

        self.client = create_app(workspace, access=Access(local_user="bench")).test_client()
        self.page = ""
        self.checking = 0.0  # seconds spent fetching `check`'s findings, as the page's script does

    def findings(self) -> None:
        """What the page's script does when `check` has not run on the files as they are."""
        found = re.search(r'data-load="([^"]+)"', self.page)
        if found:
            started = time.perf_counter()
            response = self.client.get(found.group(1) + "?panel=1", headers=HOST)
            assert response.status_code == 200, (found.group(1), response.status_code)
            self.checking += time.perf_counter() - started

    def get(self, url: str) -> None:
        response = self.client.get(url, headers=HOST)
        assert response.status_code == 200, (url, response.status_code)
        self.page = response.get_data(as_text=True)

    def post(self, url: str, data: dict) -> None:
        form = {
            "csrf": re.search(r'name="csrf" value="([^"]*)"', self.page).group(1),  # type: ignore[union-attr]
            "version": (re.search(r'name="version" value="([^"]*)"', self.page) or [None, ""])[1],
            **data,
        }
        response = self.client.post(url, data=form, headers=HOST)
        assert response.status_code == 303, (url, response.status_code, response.get_data(as_text=True)[:300])
        self.get(response.headers["Location"])
        self.findings()


def timed(session: Session, action: Callable[[int], None], runs: int) -> tuple[list[float], list[float]]:
    """(to the page, to the page and its findings) in ms, per run."""
    action(0)  # warm: imports, first render
    answers, wholes = [], []
    for n in range(1, runs + 1):
        session.checking = 0.0
        started = time.perf_counter()
        action(n)
        whole = time.perf_counter() - started
        answers.append((whole - session.checking) * 1000)
        wholes.append(whole * 1000)
    return answers, wholes


def actions(s: Session) -> dict[str, Callable[[int], None]]:
    issue = f"/issues/{SAMPLE_ISSUE}"

    def at_issue(n: int) -> None:
        if f'action="{issue}/lines"' not in s.page:
            s.get(issue)

    def move(n: int) -> None:
        at_issue(n)
        s.post(f"{issue}/items/{SECOND}", {"action": "up" if n % 2 else "down"})

    def move_section(n: int) -> None:
        at_issue(n)
        s.post(f"{issue}/items/{FIRST}", {"action": "move", "section": "1" if n % 2 else "0"})

    def subject(n: int) -> None:
        at_issue(n)
        s.post(f"{issue}/lines", {"subject": f"Microglia, gut signals and PML ({n})"})

    def add_remove(n: int) -> None:
        at_issue(n)
        teaser = "2026-05-01-cd29-marks-blood-b-cells"
        if n % 2:
            s.post(f"{issue}/items/{teaser}", {"action": "remove"})
        else:
            s.post(f"{issue}/items/{teaser}", {"action": "add", "section": "0"})

    def summary_save(n: int) -> None:
        s.get(f"/summaries/{SUMMARY}")
        s.post(f"/summaries/{SUMMARY}", {"journal": f"Advances in neurobiology {n}"})

    def approve(n: int) -> None:
        at_issue(n)
        s.post(f"{issue}/approve", {})
        s.post(f"{issue}/lines", {"preheader": f"Nine new studies from May ({n})"})  # withdraws it again

    return {
        "issues page": lambda n: s.get("/"),
        "issue editor page (unchanged)": lambda n: s.get(issue),
        "preview email": lambda n: s.get(f"{issue}/email.html"),
        "summaries list": lambda n: s.get("/summaries?review=1"),
        "summary form": lambda n: s.get(f"/summaries/{SUMMARY}"),
        "move an item + page": move,
        "move to another section + page": move_section,
        "edit the subject + page": subject,
        "add / remove a candidate + page": add_remove,
        "save a summary + form": summary_save,
        "approve + edit (withdraws) + pages": approve,
    }


def run(summaries: int, runs: int) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        workspace = copy_sample_workspace(Path(folder) / "ws")
        if summaries:
            add_summaries(workspace, summaries)
            # Files written this instant are "racy" for every cache keyed on their stat (the YAML
            # cache, the preview's watcher): an editor's summaries are older than that.
            time.sleep(2.5)
        count = len(list((workspace / "summaries").glob("*.yaml")))
        target = TARGET_MS if count < 100 else LARGE_TARGET_MS
        print(f"\n{count} summaries; target {target} ms per action (median; slowest shown too)")
        session = Session(workspace)
        ok = True
        for name, action in actions(session).items():
            times, wholes = timed(session, action, runs)
            per_step = 2 if "approve" in name else 1
            median = statistics.median(times) / per_step
            ok &= median <= target
            line = f"  {name:38} median {median:6.1f} ms   slowest {max(times) / per_step:6.1f} ms"
            if wholes != times:
                whole = statistics.median(wholes) / per_step
                line += f"   + check: median {whole:6.1f} ms, slowest {max(wholes) / per_step:6.1f} ms"
            print(line)
        return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--summaries", type=int, default=300, help="the large case (0: skip it)")
    args = parser.parse_args()
    print(machine_line())
    ok = run(0, args.runs)
    if args.summaries:
        ok &= run(args.summaries, args.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
