"""How long from saving an edit to seeing the new email in the live preview, in a real headless Chromium.

Starts `newsletter preview 2026-06` on a temporary copy of the sample workspace, opens it in
Debian's headless Chromium (Selenium, with the system's chromedriver: nothing is downloaded), then
N times: saves an edit (a new word at the start of the issue's intro, or of the first summary's
takeaway, alternately; written whole and renamed into place, as editors save) and times until the
email frames show the word. The page itself notes the moment: a listener, set before the save,
takes each frame's load event, and if the frame's text holds the word, the next animation frame's
wall-clock time (the new email on screen). The bench reads those moments every 50 ms, so asking
does not slow the page it measures (polling the frames' text every few ms, as it did, took the
page's main thread from the frames it was loading). Prints the medians: to the first email frame,
and to every frame (phone, dark, desktop). The gaps between edits are random. SpamAssassin, when
installed, runs as the preview's check; the issue's target is with it installed. Only 127.0.0.1 is
reachable by the browser.

    python bench/bench_preview.py [--edits 10]
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import yaml
from benchkit import SAMPLE_ISSUE, bench_env, copy_sample_workspace, machine_line, newsletter_command, started

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TARGET_MS = 150
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
    "--disable-sync", "--no-first-run",
    # Every name but the preview's address fails to resolve: the page cannot reach the network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)  # fmt: skip
# Set before each save: the page notes, per email frame, when it first shows `word` (the animation
# frame after its load event; wall-clock ms, comparable with Python's time.time()).
ARM = """
window.__bench = {word: arguments[0], shown: {}};
if (!window.__benchArmed) {
  window.__benchArmed = true;
  document.addEventListener('load', (event) => {  // frames' load events, caught on the way down
    const frame = event.target;
    if (!(frame instanceof HTMLIFrameElement)) return;
    const n = [...document.querySelectorAll('iframe')].indexOf(frame);
    let text = '';
    try { text = frame.contentDocument.body.textContent; } catch (e) { return; }
    if (n >= 0 && text.includes(window.__bench.word) && !(n in window.__bench.shown)) {
      const noted = window.__bench;
      requestAnimationFrame(() => { noted.shown[n] ??= performance.timeOrigin + performance.now(); });
    }
  }, true);
}
return document.querySelectorAll('iframe').length;
"""
SHOWN = "return window.__bench.shown;"
READ_EVERY = 0.05  # seconds between reads of what the page noted
_BLOCK_START = r"^{field}:[ \t]*[|>][-+]?[ \t]*\n[ \t]+"  # a YAML block scalar's first line
_INLINE_START = r"^{field}:[ \t]+(?![|>])"


def with_word(text: str, field: str, word: str) -> str:
    """`text` (a YAML file) with `word` put at the start of the value of its top-level `field`."""
    for pattern in (_BLOCK_START, _INLINE_START):
        match = re.search(pattern.format(field=field), text, re.MULTILINE)
        if match:
            return text[: match.end()] + word + " " + text[match.end() :]
    raise SystemExit(f"cannot find the field {field!r} to edit")


def edit_targets(ws: Path) -> list[tuple[Path, str]]:
    """The files the edits alternate between: the issue (its intro) and its first summary (takeaway)."""
    issue = ws / "issues" / f"{SAMPLE_ISSUE}.yaml"
    first = yaml.safe_load(issue.read_text(encoding="utf-8"))["sections"][0]["items"][0]
    return [(issue, "intro"), (ws / "summaries" / f"{first}.yaml", "takeaway")]


def save(path: Path, text: str) -> None:
    """Save as an editor does: the whole file written aside, then renamed over the old one."""
    aside = path.with_name(f".{path.name}.bench-save")
    aside.write_text(text, encoding="utf-8")
    os.replace(aside, path)


def preview_url(process: subprocess.Popen, timeout: float = 60.0) -> str:
    """The URL the preview prints when it listens; its later output is drained so it never blocks."""
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert process.stdout is not None  # started with stdout=PIPE
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        found = re.search(r"http://127\.0\.0\.1:\d+/\S*", line)
        if found:
            return found.group(0)
    raise SystemExit("the preview did not start:\n" + "".join(seen))


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: sudo apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_shown(driver, frames: int, saved_ms: float, timeout: float) -> tuple[float, float, int]:
    """(ms from the save to the first email frame showing the word, to every frame, reads made)."""
    from selenium.common.exceptions import WebDriverException

    reads = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(READ_EVERY)
        reads += 1
        try:
            shown = driver.execute_script(SHOWN)
        except WebDriverException:
            continue  # the page is reloading; ask again
        if len(shown) == frames:
            moments = [float(ms) - saved_ms for ms in shown.values()]
            return min(moments), max(moments), reads
    raise SystemExit(f"the preview did not show the edit in all {frames} frames within {timeout:.0f} s")


def measure(
    driver, ws: Path, url: str, edits: int, gap: float, timeout: float
) -> list[tuple[float, float, int]]:
    targets = edit_targets(ws)
    originals = {path: path.read_text(encoding="utf-8") for path, _ in targets}
    driver.get(url)
    rng = random.Random(16)
    results = []
    for n in range(-1, edits):  # edit -1 warms up (the first render, the browser's caches); not counted
        path, field = targets[n % len(targets)]
        word = f"Benchedit{n + 1:03d}{rng.randrange(10**6):06d}"
        text = with_word(originals[path], field, word)
        frames = driver.execute_script(ARM, word)
        if not frames:
            raise SystemExit("the preview page shows no email frames: does the issue build?")
        saved_ms = time.time() * 1000
        save(path, text)
        figures = wait_shown(driver, frames, saved_ms, timeout)
        if n >= 0:
            results.append(figures)
            print(f"  edit {n + 1:>2} ({path.parent.name}/{path.name}): {figures[0]:6.0f} ms", flush=True)
        time.sleep(rng.uniform(gap, 2 * gap))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edits", type=int, default=10, help="Edits to time (medians of these).")
    parser.add_argument(
        "--gap", type=float, default=1.0, help="Seconds between edits: random in [gap, 2*gap]."
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait for one edit to show.")
    args = parser.parse_args()
    spam = shutil.which("spamassassin")
    print(machine_line())
    print(f"SpamAssassin: {spam or 'not installed (apt-get install spamassassin): the check is skipped'}")
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        ws = copy_sample_workspace(Path(tmp) / "ws")
        command = [*newsletter_command(), "-w", str(ws), "preview", SAMPLE_ISSUE, "--port", "0"]
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, "env": bench_env()}
        # SIGINT, as Ctrl-C: the preview stops its own children (a SpamAssassin run) on the way out.
        with started(command, signal.SIGINT, **popen) as server:
            url = preview_url(server)
            print(f"preview at {url}; {args.edits} edits", flush=True)
            driver = open_browser()
            try:
                results = measure(driver, ws, url, args.edits, args.gap, args.timeout)
            finally:
                driver.quit()
    first = [r[0] for r in results]
    every = [r[1] for r in results]
    polls = sum(r[2] for r in results)
    print(f"\nsave -> new email in the first frame: median {statistics.median(first):.0f} ms "
          f"({min(first):.0f}-{max(first):.0f}); target < {TARGET_MS} ms")  # fmt: skip
    print(f"save -> new email in every frame:     median {statistics.median(every):.0f} ms "
          f"({min(every):.0f}-{max(every):.0f})")  # fmt: skip
    print(f"(the page was read {polls} times, every {READ_EVERY * 1000:.0f} ms, after it noted the moments)")


if __name__ == "__main__":
    main()
