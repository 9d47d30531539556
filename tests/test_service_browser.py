"""A reader's whole journey in Debian's chromium: sign up, confirm from the email, change topics,
download their data, unsubscribe; each page photographed light and dark, phone and desktop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import free_port
from screenshots import DESKTOP, PHONE, Scheme, emulate, missing_browser, save_full_page, start_browser
from service_helpers import SECRET, Service, link_in, start_service, start_sink_thread

from newsletter.db.audience import person_data
from newsletter.db.suppression import is_suppressed
from newsletter.web.service.server import Running, make_server

pytestmark = pytest.mark.skipif(bool(missing_browser()), reason="apt-get install chromium chromium-driver")

UNLABELLED = """
return [...document.querySelectorAll('input:not([type=hidden]), button')]
  .filter(el => !el.closest('[aria-hidden=true]'))
  .filter(el => el.tagName === 'BUTTON' ? !el.textContent.trim() : !(el.labels && el.labels.length))
  .map(el => el.name || el.outerHTML);
"""


@pytest.fixture
def journey(tmp_path, monkeypatch) -> Iterator[tuple[Service, Running, object, Path]]:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    port = free_port()
    svc = start_service(tmp_path, sink, base_url=f"http://127.0.0.1:{port}/")
    running = Running(make_server(svc.app, "127.0.0.1", port, svc.service))
    driver = start_browser()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    yield svc, running, driver, downloads
    driver.quit()
    running.stop()
    svc.close()
    controller.stop()


def arrive(driver, heading: str) -> None:
    """Wait until the page after a click shows `heading` (the click returns before the page loads)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(
        driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(lambda d: d.find_element(By.TAG_NAME, "h1").text == heading)


def photograph(driver, folder: Path, name: str) -> None:
    """The current page at a phone's and a desktop's width, light and dark; every control labelled."""
    folder.mkdir(exist_ok=True)
    for width in (PHONE, DESKTOP):
        for scheme in Scheme:
            emulate(driver, width, scheme)
            save_full_page(driver, folder / f"{name}-{width}-{scheme}.png")
            assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    assert driver.execute_script(UNLABELLED) == []


def test_a_reader_signs_up_confirms_changes_topics_downloads_and_unsubscribes(journey, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    svc, running, driver, downloads = journey
    shots = tmp_path / "shots"
    driver.get(f"{running.url}signup")
    photograph(driver, shots, "1-signup")
    driver.find_element(By.ID, "nl-email").send_keys("erin@example.org")
    driver.find_element(By.ID, "nl-first-name").send_keys("Erin")
    driver.find_element(By.CSS_SELECTOR, "input[value='Gut and microbiome']").click()
    # Topics are health data: their own consent box, never ticked for the reader.
    health = driver.find_element(By.NAME, "topics_consent")
    assert not health.is_selected()
    health.click()
    consent = driver.find_element(By.NAME, "consent")
    assert not consent.is_selected()
    consent.click()
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    arrive(driver, "Check your inbox")
    photograph(driver, shots, "2-sent")

    driver.get(link_in(svc.sink.wait_for(1)[0], "confirm"))
    arrive(driver, "Confirm your subscription")
    assert "erin@example.org" in driver.page_source and person_data(svc.engine, "erin@example.org") is None
    photograph(driver, shots, "3-confirm")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    arrive(driver, "You are subscribed")
    photograph(driver, shots, "4-confirmed")

    driver.get(link_in(svc.sink.wait_for(2)[1], "preferences"))
    arrive(driver, "Your preferences")
    assert driver.find_element(By.NAME, "topics_consent").is_selected()  # the consent she gave
    preferences = driver.current_url
    driver.find_element(By.LINK_TEXT, "What we keep and why").click()
    arrive(driver, "Privacy: what MS Research Roundup keeps about you")
    photograph(driver, shots, "5-privacy")
    driver.get(preferences)
    arrive(driver, "Your preferences")
    driver.find_element(By.CSS_SELECTOR, "input[value='Diagnosis and monitoring']").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=large_text]").click()
    driver.find_element(By.XPATH, "//button[text()='Save my preferences']").click()
    arrive(driver, "Your preferences")
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=status]"))
    status = driver.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert "Your topics: Gut and microbiome, Diagnosis and monitoring." in status
    assert "You will get the larger-text edition." in status
    photograph(driver, shots, "6-preferences-saved")

    driver.find_element(By.XPATH, "//button[text()='Download my data']").click()
    deadline = time.monotonic() + 10
    while not list(downloads.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (downloaded,) = downloads.glob("*.json")
    data = json.loads(downloaded.read_text())
    assert data["email"] == "erin@example.org" and data["topics"] == [
        "Gut and microbiome",
        "Diagnosis and monitoring",
    ]

    driver.find_element(By.XPATH, "//button[text()='Unsubscribe from everything']").click()
    arrive(driver, "You are unsubscribed")
    assert is_suppressed(svc.engine, "erin@example.org")
    photograph(driver, shots, "7-unsubscribed")
    print(f"\nscreenshots in {shots}")
