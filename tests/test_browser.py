"""The sample issue's email.html in a real headless Chromium, at a phone's and a desktop's width."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_workspace import SAMPLE_ISSUE as ISSUE
from sample_workspace import copy_sample_workspace
from screenshots import DESKTOP, PHONE, missing_browser, show, start_browser

from newsletter import render
from newsletter.store.config import load_settings
from newsletter.store.content import load_summaries
from newsletter.store.issues import load_issue
from newsletter.web import preview

MISSING = missing_browser()

pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"headless browser not installed ({', '.join(MISSING)}); apt-get install chromium chromium-driver",
)

MIN_TAP = 44  # px: a comfortable tap target (Apple's and WCAG 2.5.5's guidance)


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    browser = start_browser()
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def email_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], int]:
    """The sample issue built to email.html, the titles of its summaries and how many are full."""
    root = copy_sample_workspace(tmp_path_factory.mktemp("ws"))
    settings = load_settings(root)
    built = render.build_issue(settings, ISSUE, root / "out")
    store = load_summaries(root)
    ids = load_issue(root, ISSUE).summary_ids
    return (
        built.out_dir / "email.html",
        [store[i].title for i in ids],
        sum(not store[i].is_teaser for i in ids),
    )


LAYOUT = """
const titles = arguments[0];
const visible = (el) => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
    && r.left >= 0 && r.right <= window.innerWidth + 0.5;
};
const all = [...document.querySelectorAll('body *')]
  .filter(el => el.children.length === 0 || el.tagName === 'A');
const text = (el) => el.textContent.replace(/\\s+/g, ' ').trim();
const titleShown = titles.map(t => all.some(el => text(el).includes(t) && visible(el)));
const readMore = [...document.querySelectorAll('h3 a')]
  .map(a => Math.round(a.getBoundingClientRect().height));
return {scrollWidth: document.documentElement.scrollWidth, bodyWidth: document.body.scrollWidth,
        innerWidth: window.innerWidth, titleShown, readMore};
"""


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_nothing_overflows_and_every_title_is_visible(driver, email_file, width: int, tmp_path: Path):
    path, titles, _ = email_file
    show(driver, path, width)
    layout = driver.execute_script(LAYOUT, titles)
    driver.save_screenshot(str(tmp_path / f"email-{width}.png"))  # kept by pytest for a look
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= width and layout["bodyWidth"] <= width, layout
    assert all(layout["titleShown"]), dict(zip(titles, layout["titleShown"], strict=True))


def test_story_links_are_comfortable_tap_targets_on_a_phone(driver, email_file):
    path, titles, full = email_file
    show(driver, path, PHONE)
    heights = driver.execute_script(LAYOUT, titles)["readMore"]
    assert len(heights) == full  # one link per full summary, its title; teasers are a list of title links
    assert min(heights) >= MIN_TAP, heights


# Every email frame of the preview page shows the text given (the frames are same-origin documents).
FRAMES_SHOW = """
const frames = [...document.querySelectorAll('iframe')];
return frames.length === 3 && frames.every((f) => f.contentDocument && f.contentDocument.body
  && f.contentDocument.body.textContent.includes(arguments[0]));
"""


def seconds_until_frames_show(driver, text: str, limit: float = 20) -> float:
    started = time.perf_counter()
    while not driver.execute_script(FRAMES_SHOW, text):
        assert time.perf_counter() - started < limit, f"the preview never showed {text!r}"
    return time.perf_counter() - started


def test_a_saved_edit_reaches_the_preview_frames_without_a_reload(driver, tmp_path: Path):
    """From saving the issue to the new email in all three frames, with SpamAssassin on (issue 16)."""
    root = copy_sample_workspace(tmp_path / "ws")
    path = root / "issues" / f"{ISSUE}.yaml"
    original = path.read_text()
    with preview.Previewer(root, ISSUE) as previewer:
        server = preview.make_server(previewer)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1700, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            )
            driver.get(f"http://127.0.0.1:{server.server_port}/")
            seconds_until_frames_show(driver, "May was a month")
            driver.execute_script("window.loadedOnce = true")
            took = []
            for n in range(5):
                path.write_text(original.replace("May was a month", f"Edit {n} was a month"))
                took.append(seconds_until_frames_show(driver, f"Edit {n} was a month"))
                time.sleep(0.5)  # the next save comes while SpamAssassin scores this one
            # The new email replaced the old in place: the page itself was never reloaded.
            assert driver.execute_script("return window.loadedOnce === true")
        finally:
            server.shutdown()
            server.server_close()
    # A figure to read, not to assert: the time depends on the machine's load (bench/bench_preview.py).
    median = statistics.median(took)
    print(f"preview latency: median {median * 1000:.0f} ms of {[round(t * 1000) for t in took]}")
