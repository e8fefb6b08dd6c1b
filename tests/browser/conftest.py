"""A real browser on the console: Debian's Chromium headless, driven by selenium, against the
stack's Flask app served over real HTTP (werkzeug, threaded) on 127.0.0.1."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.harness.http import served

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def console_url(stack) -> Iterator[str]:
    with served(stack.app, "console-http") as url:
        yield f"{url}/console"


def start_chromium(user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser() -> Iterator:
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    driver = start_chromium(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def fresh(browser, console_url):
    """The browser signed out (no cookie left from the previous test)."""
    browser.get(f"{console_url}/login")
    browser.delete_all_cookies()
    return browser
