"""Photograph every page of the editor's desk at a phone's and a desktop's width, light and dark.

    .venv/bin/python tests/desk_screenshots.py docs/screenshots/desk

Runs the desk on a copy of the sample workspace in Debian's chromium (no network) and saves the
first screen of each page, at device scale 1, as `<page>-<width>-<scheme>.png`: the issues list, the
issue editor (at its sections, one item's "Move…" open), the summaries list, a summary's form
(needs review), an import's result, the page of a save refused because the file changed (409), and
the issue just approved. Prints axe-core's violations per shot (the tests fail on serious ones).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from base64 import b64decode
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from screenshots import AXE, Scheme, axe_violations, emulate, missing_browser, start_browser

REPO = Path(__file__).resolve().parent.parent
ISSUE = "2026-06"
REVIEW = "2026-05-06-microglia-affect-ms-healing-harm-explained"
FIRST = "2026-05-20-invading-immune-cells-damage-nerves-ms"
UPLOAD = REPO / "tests/feeds/html/B/lab-grown-human-microglia-point-to-new-targets-for-progressive-ms.html"
WIDTHS = (375, 1280)


def wait_for(driver: Any, condition: Any) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(condition)


def checked(driver: Any) -> None:
    """Wait until `check`'s findings are in the issue page (fetched after it loads)."""
    wait_for(driver, lambda d: not d.find_elements("css selector", "#findings[aria-busy]"))


class Camera:
    def __init__(self, driver: Any, out: Path):
        self.driver, self.out = driver, out
        self.axe: dict[str, list[str]] = {}

    def shoot(self, name: str, anchor: str = "") -> None:
        for width in WIDTHS:
            for scheme in Scheme:
                emulate(self.driver, width, scheme)
                self.driver.execute_script(
                    "var a = arguments[0] && document.getElementById(arguments[0]);"
                    "if (a) { a.scrollIntoView(); } else { window.scrollTo(0, 0); }",
                    anchor,
                )
                shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
                (self.out / f"{name}-{width}-{scheme}.png").write_bytes(b64decode(shot["data"]))
                if AXE.is_file():
                    found = axe_violations(self.driver)
                    self.axe[f"{name}-{width}-{scheme}"] = [f"{v['impact']}: {v['id']}" for v in found]


def photograph(workspace: Path, out: Path) -> dict[str, list[str]]:
    from selenium.webdriver.common.by import By

    from newsletter.web.desk.context import Access
    from newsletter.web.desk.server import make_server
    from newsletter.web.service.server import Running

    review = workspace / "summaries" / f"{REVIEW}.yaml"
    reviewed = review.read_text(encoding="utf-8")
    review.write_text(reviewed + "needs_review: true\nmissing_fields: [journal, who_should_care]\n", "utf-8")
    # The desk's clock at the end of May, as the month's editor sees it: the same pictures every run.
    clock = lambda: datetime(2026, 5, 30, 12, 0, tzinfo=UTC)  # noqa: E731
    running = Running(make_server(workspace, "127.0.0.1", 0, Access(local_user="ana"), clock=clock))
    base = running.url.rstrip("/")
    driver = start_browser()
    camera = Camera(driver, out)
    try:
        driver.get(base + "/")
        camera.shoot("issues")

        driver.get(f"{base}/issues/{ISSUE}")
        checked(driver)
        driver.find_element(By.ID, f"more-{FIRST}").click()
        camera.shoot("issue-editor", "sections")

        driver.get(base + "/summaries")
        camera.shoot("summaries")
        driver.get(f"{base}/summaries/{REVIEW}")
        camera.shoot("summary-form")

        driver.get(base + "/import")
        driver.find_element(By.ID, "file").send_keys(str(UPLOAD))
        driver.find_element(By.CSS_SELECTOR, "#import-form button[type=submit]").click()
        wait_for(driver, lambda d: d.find_element(By.ID, "result"))
        camera.shoot("import")

        review.write_text(
            reviewed, encoding="utf-8"
        )  # reviewed: `check` finds no error, so it may be approved
        driver.get(f"{base}/issues/{ISSUE}")
        path = workspace / "issues" / f"{ISSUE}.yaml"
        path.write_text(path.read_text("utf-8").replace("May was a month", "May was truly a month"), "utf-8")
        driver.find_element(By.ID, f"down-{FIRST}").click()
        wait_for(driver, lambda d: "changed on disk" in d.find_element(By.TAG_NAME, "h1").text)
        camera.shoot("conflict-409")

        driver.get(f"{base}/issues/{ISSUE}")
        checked(driver)
        driver.find_element(By.ID, "approve").click()
        wait_for(driver, lambda d: "Approved by" in d.find_element(By.ID, "announce").text)
        checked(driver)
        camera.shoot("approval")
    finally:
        driver.quit()
        running.stop()
    return camera.axe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder for the PNG files")
    args = parser.parse_args(argv)
    if missing := missing_browser():
        print(f"error: not installed: {', '.join(missing)}; apt-get install chromium chromium-driver")
        return 1
    sys.path.insert(0, str(REPO / "tests"))
    from sample_workspace import copy_sample_workspace

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        axe = photograph(copy_sample_workspace(Path(folder) / "ws"), args.out)
    for shot, found in axe.items():
        print(f"{shot}: {', '.join(found) or 'no axe violations'}")
    serious = [s for s, found in axe.items() if any(f.startswith(("serious", "critical")) for f in found)]
    return 1 if serious else 0


if __name__ == "__main__":
    sys.exit(main())
