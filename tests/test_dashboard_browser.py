"""The dashboard in a real browser: Debian's headless Chromium, driven by
Selenium through Debian's chromedriver (nothing is downloaded).

It loads the page, finds a dead-lettered task's reason on it, redrives the
task through the page's confirmation step, and checks on SQS (moto's
server) that the message left the DLQ and is back in its queue. On the
way it takes the screenshot the README shows: into ``docs/dashboard.png``
with ``ALLIGATOR_UPDATE_SCREENSHOT=1`` (so a test run leaves the checkout
clean), else into the test's temporary directory.

``make test`` installs ``chromium`` and ``chromium-driver`` when they are
missing; elsewhere the test is skipped without them, except in CI.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from alligator import Gator
from alligator.testing import make_queue
from tests import tasks
from tests.dashboard_support import dead_letter, running
from tests.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = Path(ROOT) / "docs" / "dashboard.png"
#: The flags that keep Chromium headless, offline and quiet.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1200",
)
#: Seconds to wait for the page to show something (polled, not slept).
WAIT_SECONDS = 30

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)) and not os.environ.get("CI"):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (make test installs them)",
        allow_module_level=True,
    )


@pytest.fixture(autouse=True)
def _no_token(monkeypatch):
    monkeypatch.delenv("ALLIGATOR_DASHBOARD_TOKEN", raising=False)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_shows_a_dead_task_and_redrives_it_after_confirming(
    browser, sqs_endpoint, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shot_path = tmp_path / "dashboard.png"

    # Given an SQS queue with work waiting and one task dead-lettered with a
    # reason that looks like markup; and a task that ran, in a status store
    dsn = make_queue(sqs_endpoint, name=f"emails-{uuid.uuid4().hex[:6]}")
    status = f"sqlite://{tmp_path}/status.db"
    gator = Gator(dsn, status=status)
    [task_id] = dead_letter(gator, "SMTP 554: mailbox <b>unavailable</b>")
    done = gator.task(tasks.add, 40, 2)
    gator.pop()
    gator.task_many([(tasks.add, (n, n)) for n in range(3)])
    wait = WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.1)

    def dead_row(driver):
        rows = driver.find_elements(By.CSS_SELECTOR, "table.dead tbody tr")
        return next((row for row in rows if task_id in row.text), False)

    def samples(driver):
        chart = driver.find_element(By.CSS_SELECTOR, "svg.chart")
        return int(chart.get_attribute("data-samples") or 0)

    with running([dsn], status=status) as server:
        # When the page is opened
        browser.get(server.url)
        # Then it shows the task with its reason, as text (not as markup)
        row = wait.until(dead_row)
        assert "RuntimeError: SMTP 554: mailbox <b>unavailable</b>" in row.text
        assert "tests.tasks.fail" in row.text
        assert row.find_elements(By.TAG_NAME, "b") == []
        # ...and draws the depths as they change (more work arriving)
        for n in range(4):
            seen = samples(browser)
            gator.task_many([(tasks.add, (n, m)) for m in range(n + 2)])
            wait.until(lambda driver, seen=seen: samples(driver) >= seen + 2)
        assert browser.find_elements(By.CSS_SELECTOR, "svg.chart path.s-visible")
        # ...and looks a task's state up by its id
        browser.find_element(By.ID, "task-id").send_keys(done.task_id)
        browser.find_element(By.ID, "task-look").click()
        state = browser.find_element(By.ID, "task-state")
        wait.until(lambda driver: state.is_displayed())
        assert browser.find_element(By.CSS_SELECTOR, "dd.field-status").text == "success"
        assert browser.find_element(By.CSS_SELECTOR, "dd.field-result").text == "42"
        target = SCREENSHOT if os.environ.get("ALLIGATOR_UPDATE_SCREENSHOT") else shot_path
        target.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(target)) and target.stat().st_size > 10_000

        # When delete is clicked but not confirmed, nothing happens
        row.find_element(By.CSS_SELECTOR, "button.delete").click()
        dialog = browser.find_element(By.ID, "confirm")
        wait.until(lambda driver: dialog.is_displayed())
        browser.find_element(By.ID, "confirm-cancel").click()
        wait.until(lambda driver: not dialog.is_displayed())
        assert gator.backend.dlq_backend().stats().visible == 1

        # When redrive is clicked, the page asks first; then it is confirmed
        wait.until(dead_row).find_element(By.CSS_SELECTOR, "button.redrive").click()
        wait.until(lambda driver: dialog.is_displayed())
        assert task_id in browser.find_element(By.ID, "confirm-text").text
        browser.find_element(By.ID, "confirm-ok").click()
        # Then the page says so and the row goes away
        notice = browser.find_element(By.ID, "notice")
        wait.until(lambda driver: "redrove the message" in notice.text)
        wait.until(lambda driver: not dead_row(driver))

    # ...and the message left the DLQ and is back in its queue
    dlq = gator.backend.dlq_backend().stats()
    assert (dlq.visible, dlq.in_flight) == (0, 0)
    back = []
    while gator.backend.stats().visible and len(back) < 100:
        back += gator.backend.receive(max_messages=10, wait_seconds=1)
    gator.backend.release(back)
    assert task_id in [json.loads(message.body)["task_id"] for message in back]
