"""What the benchmarks share: the sample workspace, the `newsletter` command, interleaved trials, processes.

Only the command line and the repository's files are used, never the package's internals, so the
benchmarks keep measuring the same thing while the package is restructured underneath them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE_ISSUE = "2026-06"
WORKSPACE_PARTS = ("newsletter.yaml", "topics.yaml", "summaries", "issues", "subscribers", "templates")
# A fixed unsubscribe signing key: the product refuses to send without one (from the environment).
SECRET = "bench-secret-for-unsubscribe-links-0123456789"


def copy_sample_workspace(dest: Path) -> Path:
    """Copy the repository's sample workspace (settings, taxonomy, content, lists) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKSPACE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, dest / part)
        elif source.is_file():
            shutil.copy2(source, dest / part)
    return dest


def newsletter_command() -> list[str]:
    """How a user starts the tool: the console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).parent / "newsletter"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "newsletter"]


def entry_point() -> tuple[str, str]:
    """(module, function) of the `newsletter` console script, e.g. ("newsletter.cli", "main")."""
    from importlib.metadata import entry_points

    found = entry_points(group="console_scripts", name="newsletter")
    for ep in found:
        module, _, attr = ep.value.partition(":")
        return module.strip(), attr.strip()
    raise SystemExit("the newsletter package is not installed here: pip install -e . first")


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of a product process: the signing key set, output unbuffered, and compiled
    modules kept, as Python does by default.

    With PYTHONDONTWRITEBYTECODE set (some sandboxes and CI images set it), an editable install
    compiles every module it imports from source at every start, which no installed tool does: a
    send's worker processes compiled Jinja2, MJML and premailer as they first rendered.
    """
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET, "PYTHONUNBUFFERED": "1", **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something listens on 127.0.0.1:port; SystemExit after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.02)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Stop one child we started, by its own handle: a signal, a short wait, then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream:
            with contextlib.suppress(OSError):
                stream.close()


@contextlib.contextmanager
def started(
    command: Sequence[str], stop_signal: int = signal.SIGTERM, **popen: object
) -> Iterator[subprocess.Popen]:
    """A child process that is stopped (by its handle) however the block ends, Ctrl-C included."""
    process = subprocess.Popen(list(command), **popen)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        stop_process(process, stop_signal)


def interleave(
    variants: dict[str, Callable[[], float]], trials: int, on_trial: Callable[[int, dict], None] | None = None
) -> dict[str, list[float]]:
    """Run every variant once per trial, rotating the order each trial so no variant always goes first.

    On a shared machine load drifts over minutes; alternating puts each variant under the same
    drift, so ratios taken trial by trial are steadier than medians taken in separate runs.
    """
    names = list(variants)
    results: dict[str, list[float]] = {name: [] for name in names}
    for trial in range(trials):
        shift = trial % len(names)
        this_trial = {}
        for name in names[shift:] + names[:shift]:
            this_trial[name] = variants[name]()
            results[name].append(this_trial[name])
        if on_trial:
            on_trial(trial, this_trial)
    return results


def paired_ratios(top: list[float], bottom: list[float]) -> list[float]:
    """Trial-by-trial ratios: each pair ran minutes apart at most, under the same load."""
    return [a / b for a, b in zip(top, bottom, strict=True) if b]


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """'median (min-max)' of some trials, the range saying how noisy the machine was."""
    if not values:
        return "-"
    middle = statistics.median(values)
    return f"{fmt.format(middle)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding `path` (ext4, tmpfs, ...), from /proc/mounts."""
    path = path.resolve()
    best, kind = "", "unknown"
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 3 and str(path).startswith(fields[1]) and len(fields[1]) > len(best):
                best, kind = fields[1], fields[2]
    return kind


def machine_line() -> str:
    """One line on where the figures come from: CPUs and load, since the machine is shared."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}"
