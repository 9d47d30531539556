"""How long commands take to start, against a bare interpreter, and which heavy modules the CLI imports.

Interleaved trials (each trial runs every command once, in a rotating order) of `python -c pass`,
`newsletter --help`, `summaries list`, `status 2026-06`, `build 2026-06` and `check 2026-06` (in a
temporary copy of the sample workspace, its issue sent once to the outbox so `status` has a run);
medians, and each command's time as a ratio to the bare interpreter taken trial by trial. Then the
heavy modules `import newsletter.cli` and each command load (a sys.modules diff) and the slowest
imports by cumulative time (python -X importtime). Nothing leaves this machine.

    python bench/bench_startup.py [--trials 11] [--before OTHER/.venv/bin/python]

`--before` adds the same commands run by another installation (e.g. the tree before a change, with its
own venv) to the same interleaved trials, so before and after are compared under the same load.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchkit import (
    SAMPLE_ISSUE,
    bench_env,
    copy_sample_workspace,
    entry_point,
    interleave,
    machine_line,
    newsletter_command,
    paired_ratios,
    spread,
)

# Top-level modules no command should pay for unless it uses them (the issue's list, and friends).
HEAVY = (
    "premailer", "cssutils", "requests", "urllib3", "lxml", "mjml", "jinja2", "sqlalchemy", "alembic",
    "boto3", "botocore", "dkim", "email_validator", "yaml", "newsletter.importers",
)  # fmt: skip
MODULES_LOADED = """
import sys
before = set(sys.modules)
import newsletter.cli
print(__import__("json").dumps(sorted(set(sys.modules) - before)))
"""
# Runs the console script's function and, at exit, writes every module the command loaded to stderr.
COMMAND_MODULES = """
import atexit, importlib, sys
atexit.register(lambda: sys.stderr.write("\\nbench-modules " + " ".join(sorted(sys.modules)) + "\\n"))
sys.argv[0] = "newsletter"
getattr(importlib.import_module("{module}"), "{function}")()
"""


def timed(command: list[str], cwd: Path) -> Callable[[], float]:
    """A variant: run `command` once, return its wall time in milliseconds (failing loudly)."""

    def run() -> float:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=bench_env(), capture_output=True, timeout=120)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.decode()}")
        return elapsed

    return run


def heavy_of_command(arguments: list[str], cwd: Path) -> list[str]:
    """The HEAVY modules loaded by the time one command exits."""
    module, function = entry_point()
    code = COMMAND_MODULES.format(module=module, function=function)
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments], cwd=cwd, env=bench_env(), capture_output=True, text=True
    )
    found = re.search(r"^bench-modules (.*)$", done.stderr, re.MULTILINE)
    if not found:
        raise SystemExit(f"newsletter {' '.join(arguments)} failed:\n{done.stderr}")
    loaded = set(found.group(1).split())
    return [name for name in HEAVY if name in loaded]


def heavy_modules() -> tuple[list[str], int]:
    """(the HEAVY modules `import newsletter.cli` loads, how many modules it loads in all)."""
    done = subprocess.run(
        [sys.executable, "-c", MODULES_LOADED], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout)
    hits = [name for name in HEAVY if name in loaded]
    return hits, len(loaded)


def slowest_imports(count: int) -> list[tuple[int, str]]:
    """The imports of `import newsletter.cli` with the largest cumulative time, in microseconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import newsletter.cli"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) <= 3:  # top-level imports and their direct children
            rows.append((int(match.group(2)), match.group(3) + match.group(4)))
    return sorted(rows, reverse=True)[:count]


COMMANDS = {
    "--help": ["--help"],
    "summaries list": ["summaries", "list"],
    f"status {SAMPLE_ISSUE}": ["status", SAMPLE_ISSUE],
    f"build {SAMPLE_ISSUE}": ["build", SAMPLE_ISSUE],
    f"check {SAMPLE_ISSUE}": ["check", SAMPLE_ISSUE],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=11, help="Interleaved trials (medians of these).")
    parser.add_argument(
        "--before", type=Path, help="The python of another installation whose commands run alongside."
    )
    args = parser.parse_args()
    tool = newsletter_command()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        ws = copy_sample_workspace(Path(tmp) / "ws")
        sent = [*tool, "send", SAMPLE_ISSUE, "--provider", "outbox", "--yes"]
        subprocess.run(sent, cwd=ws, env=bench_env(), capture_output=True, check=True, timeout=300)
        variants = {"python -c pass": timed([sys.executable, "-c", "pass"], ws)}
        for name, arguments in COMMANDS.items():
            variants[name] = timed([*tool, *arguments], ws)
            if args.before:
                variants[f"before: {name}"] = timed([str(args.before.parent / "newsletter"), *arguments], ws)
        for run in variants.values():
            run()  # warm the page cache and .pyc files: every trial then starts alike
        print(machine_line())
        print(f"{args.trials} interleaved trials; the tool: {' '.join(tool)}", flush=True)
        results = interleave(variants, args.trials)
        loaded_by = {name: heavy_of_command(arguments, ws) for name, arguments in COMMANDS.items()}
        shutil.rmtree(ws / "out", ignore_errors=True)
    bare = results["python -c pass"]
    print("\nwall time in ms, median (min-max); ratio to `python -c pass`, trial by trial:")
    for name, times in results.items():
        ratio = spread(paired_ratios(times, bare), "{:.2f}")
        print(f"  {name:<26} {spread(times):>16} ms   x {ratio}")
    hits, total = heavy_modules()
    print(f"\n`import newsletter.cli` loads {total} modules; heavy among them: {', '.join(hits) or 'none'}")
    for name, modules in loaded_by.items():
        print(f"  `newsletter {name}` ends with: {', '.join(modules) or 'none'}")
    print("slowest imports under `import newsletter.cli` (cumulative, python -X importtime):")
    for micros, name in slowest_imports(12):
        print(f"  {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
