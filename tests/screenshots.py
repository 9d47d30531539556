"""Render an HTML file in headless Debian chromium at a width and colour scheme; save a full-page PNG.

Used by the design tests (tests/test_email_design.py) and by hand, to look at the email:

    .venv/bin/python tests/screenshots.py out/2026-06/email.html --width 375 --scheme dark --out dark.png

prints the page's height in CSS pixels. Nothing here touches the network: the flags keep chromium's
own background traffic off, and the binary and driver are given so Selenium Manager never downloads.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
PHONE, DESKTOP = 375, 800
VIEWPORT_HEIGHT = 900
# axe-core (accessibility), installed by .ci/run from npm; the tests that need it skip without it.
AXE = Path(
    os.environ.get(
        "AXE_CORE_JS", Path(__file__).resolve().parent.parent / ".cache/npm/node_modules/axe-core/axe.min.js"
    )
)


class Scheme(StrEnum):
    LIGHT = "light"
    DARK = "dark"


def missing_browser() -> list[str]:
    """The parts of the headless browser that are not installed (empty when it can run)."""
    return [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.access(p, os.X_OK) or shutil.which(p))]


def start_browser() -> Any:
    """A headless chromium driven by Selenium; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def emulate(driver: Any, width: int, scheme: Scheme = Scheme.LIGHT) -> None:
    """Make the page a device `width` CSS pixels wide that prefers `scheme`."""
    # Emulate the device's width exactly (a window's outer size includes browser chrome).
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": VIEWPORT_HEIGHT, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": str(scheme)}]},
    )


def show(driver: Any, path: Path, width: int, scheme: Scheme = Scheme.LIGHT) -> None:
    """Load `path` as a device `width` CSS pixels wide that prefers `scheme`."""
    emulate(driver, width, scheme)
    driver.get(path.resolve().as_uri())


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page shown (id, impact, help, the first few nodes)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({
          id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))}))));
        """
    )


def page_height(driver: Any) -> int:
    """The document's full height in CSS pixels, as a reader scrolls it."""
    return int(driver.execute_script("return document.documentElement.scrollHeight"))


def save_full_page(driver: Any, png: Path) -> int:
    """Save the whole page (not only the viewport) as a PNG; returns the page's height."""
    height = page_height(driver)
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "fromSurface": True}
    )
    png.write_bytes(base64.b64decode(shot["data"]))
    return height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the HTML file to render")
    parser.add_argument("--width", type=int, default=PHONE, help=f"CSS pixels (default {PHONE})")
    parser.add_argument("--scheme", choices=[s.value for s in Scheme], default=Scheme.LIGHT.value)
    parser.add_argument("--out", type=Path, help="where to write the PNG (default: next to the HTML)")
    args = parser.parse_args(argv)
    if missing := missing_browser():
        print(f"error: not installed: {', '.join(missing)}; apt-get install chromium chromium-driver")
        return 1
    if not args.html.is_file():
        print(f"error: {args.html}: no such file")
        return 1
    out = args.out or args.html.with_name(f"{args.html.stem}-{args.width}-{args.scheme}.png")
    driver = start_browser()
    try:
        show(driver, args.html, args.width, Scheme(args.scheme))
        height = save_full_page(driver, out)
    finally:
        driver.quit()
    print(f"{out}: {args.width} x {height} px ({args.scheme})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
