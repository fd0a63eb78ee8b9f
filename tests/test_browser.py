"""The flagship report in a real browser: Debian's Chromium driven headless by Playwright.

Checks what a reader would notice: no console errors, a forest plot for every pooled analysis,
table-of-contents links that land on their section, and a hostile study name shown as text
(a dialog would mean the script ran). A full-page screenshot is saved for people to look at:
``$TRIALSYNTH_SCREENSHOTS`` (default: the pytest temporary folder).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from _paths import SHARED_DATA
from playwright.sync_api import sync_playwright

from trialsynth.runner import run_review

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGSHIP = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"
EVIL = "<script>alert(1)</script>"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def flagship_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "flagship"
    run_review(FLAGSHIP, out, quiet=True)
    return out


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, dialogs


def test_flagship_report_in_chromium(browser, flagship_report: Path, tmp_path: Path) -> None:
    page, errors, dialogs = _open(browser, flagship_report / "index.html")
    assert errors == [] and dialogs == []
    sections = page.locator("article h3[id^='a']")
    n = sections.count()
    assert n == 95  # every analysis of CD015373.pub2 has its section
    pooled = 0
    for i in range(n):
        article = sections.nth(i).locator("xpath=..")
        if article.locator("text=Nothing pooled").count():
            continue
        pooled += 1
        assert article.locator("svg").count() >= 1, sections.nth(i).inner_text()
    assert pooled == 91
    # table-of-contents links land on their targets
    links = page.locator("nav a[href^='#a']")
    assert links.count() == 95
    for i in (0, links.count() // 2, links.count() - 1):
        href = links.nth(i).get_attribute("href")
        links.nth(i).click()
        assert page.evaluate("location.hash") == href
        target = page.locator(f"[id='{href[1:]}']")
        box = target.bounding_box()
        assert box is not None and -5 <= box["y"] <= 900  # scrolled into view
    shots = Path(os.environ.get("TRIALSYNTH_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "flagship-report.png"), full_page=True)
    assert (shots / "flagship-report.png").stat().st_size > 100_000
    page.close()


def test_hostile_study_name_is_shown_as_text(browser, tmp_path: Path) -> None:
    """A CONSTRUCTED two-study review whose first study is named like a script."""
    header = ["Analysis.group", "Analysis.number", "Analysis.name", "Subgroup", "Study",
              "Study.year", "Experimental.cases", "Experimental.N", "Control.cases", "Control.N",
              "Experimental.mean", "Experimental.SD", "Control.mean", "Control.SD", "GIV.Mean",
              "GIV.SE", "Weight", "Mean", "CI.start", "CI.end"]
    source = tmp_path / "evil.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for study, a, n1, c, n2 in ((EVIL, 3, 20, 6, 21), ("Plain 2001", 5, 30, 9, 30)):
            w.writerow({"Analysis.group": 1, "Analysis.number": 1,
                        "Analysis.name": "Adverse events", "Study": study, "Study.year": 2001,
                        "Experimental.cases": a, "Experimental.N": n1, "Control.cases": c,
                        "Control.N": n2})
    run_review(source, tmp_path / "out", quiet=True)
    page, errors, dialogs = _open(browser, tmp_path / "out" / "index.html")
    assert dialogs == [] and errors == []
    assert page.locator(f"text={EVIL}").count() >= 1  # visible as literal text
    assert page.locator("script").count() == 0
    page.close()
