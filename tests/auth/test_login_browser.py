"""`bbvars login` end to end in a real browser: headless Chromium (Debian's chromium and chromium-driver, driven by
selenium) opens the consent page and clicks "Grant access"; the emulator redirects it to bbvars' loopback listener.
Skips, saying why, where no browser can run."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile

import pytest

from tests.support import CLIENT_SECRET, LOGIN_CLIENT_SECRET, finish, login_consumer, start_login

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server")


def browser_or_skip():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (it is in the test extra: pip install -e '.[test]')")
    binary = next((path for path in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "") if path and
                   os.access(path, os.X_OK)), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("no browser: install Debian's chromium and chromium-driver (apt-get install chromium "
                    "chromium-driver) to run the login in a real browser")
    profile = tempfile.mkdtemp(prefix="bbvars-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except Exception as exc:  # e.g. a driver that does not match the browser
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium could not start here: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    browser.set_page_load_timeout(30)
    return browser, profile


def test_login_in_a_real_browser(emulator, config_home):
    pytest.importorskip("selenium", reason="selenium is not installed (it is in the test extra: pip install -e '.[test]')")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser, profile = browser_or_skip()
    callback = login_consumer(emulator)
    proc, page, first = start_login(emulator, callback)
    try:
        assert page, first
        browser.get(page)
        assert "Authorize bbvars" in browser.title
        browser.find_element(By.XPATH, "//button[normalize-space()='Grant access']").click()
        WebDriverWait(browser, 30).until(expected_conditions.title_is("bbvars: logged in"))
        assert browser.current_url.startswith(callback + "?code=")
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
    run = finish(proc, first)
    assert run.code == 0, run.stderr
    assert run.json["user"] == "Demo User (demo-user)"
    path = config_home / "bbvars" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    for secret in (LOGIN_CLIENT_SECRET, CLIENT_SECRET, data["access_token"], data["refresh_token"]):
        assert secret not in run.stdout + run.stderr
