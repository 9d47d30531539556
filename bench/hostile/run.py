"""Run issue 26's hostile suite and print each case, what must happen, what did, and the totals.

The cases and their tests are in cases.py; this runs those tests once with pytest (one process,
JUnit XML to a temporary file), then sums each case: it holds when every test it names passed.
Exit status 1 if any case broke.

    python bench/hostile/run.py [--item N ...] [-- PYTEST-ARGS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, Case  # noqa: E402 - beside this script, not a package

ROOT = Path(__file__).resolve().parents[2]

Outcome = str  # passed, failed, skipped


def run_tests(node_ids: list[str], extra: list[str]) -> dict[tuple[str, str], list[Outcome]]:
    """(file, test function) -> the outcome of each of its parameters."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        subprocess.run([*command, *extra, *node_ids], cwd=ROOT, check=False)
        tree = ET.parse(report)
    found: dict[tuple[str, str], list[Outcome]] = {}
    for testcase in tree.iter("testcase"):
        path = testcase.get("classname", "").replace(".", "/") + ".py"
        name = testcase.get("name", "").split("[")[0]
        tags = {child.tag for child in testcase}
        outcome = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        found.setdefault((path, name), []).append(outcome)
    return found


def outcomes_of(case: Case, found: dict[tuple[str, str], list[Outcome]]) -> list[Outcome]:
    got: list[Outcome] = []
    for node in case.tests:
        path, _, name = node.partition("::")
        matched = [o for (p, n), outs in found.items() if p == path and name in ("", n) for o in outs]
        got += matched or ["missing"]
    return got


def verdict(outcomes: list[Outcome]) -> str:
    if any(o in ("failed", "missing") for o in outcomes):
        return "BROKEN"
    if all(o == "skipped" for o in outcomes):
        return "skipped"
    return "held"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--item", type=int, nargs="+", help="only these items of the issue (0: earlier rounds)"
    )
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.item or c.item in args.item]
    nodes = list(dict.fromkeys(node for c in cases for node in c.tests))
    found = run_tests(nodes, args.pytest_args)

    totals: Counter[str] = Counter()
    print(f"\n{'item':<5}{'case':<62}{'expected':<58}result")
    for c in cases:
        outcomes = outcomes_of(c, found)
        result = verdict(outcomes)
        totals[result] += 1
        passed = f"{outcomes.count('passed')}/{len(outcomes)} tests"
        print(f"{c.item or '-':<5}{c.name[:60]:<62}{c.expected[:56]:<58}{result} ({passed})")
    # Each test once, though several cases may name it.
    ran = Counter(o for outs in found.values() for o in outs)
    runs = f"{sum(ran.values())} test runs: " + ", ".join(
        f"{ran[k]} {k}" for k in ("passed", "failed", "skipped")
    )
    held = f"{totals['held']} held, {totals['BROKEN']} broken, {totals['skipped']} skipped (no server here)"
    print(f"\n{len(cases)} cases: {held}; {runs}")
    return 1 if totals["BROKEN"] else 0


if __name__ == "__main__":
    sys.exit(main())
