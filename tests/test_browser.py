"""The flagship report in a real browser: Debian's Chromium driven headless by Playwright, as a
reader uses it on a desktop, on a 390-px phone, without scripts, and printed to A4.

Checks what a reader would notice: no console errors, a forest plot for every pooled analysis,
contents links that land on their section, filters that narrow the analyses, no sideways page
scroll on a phone with legible plot text, footnotes open and at most 120 pages in print, and a
hostile study name shown as text. Screenshots (desktop, phone, first printed pages) are saved for
people to look at: ``$TRIALSYNTH_SCREENSHOTS`` (default: the pytest temporary folder).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from _paths import SHARED_DATA
from playwright.sync_api import sync_playwright

from trialsynth.runner import run_review

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGSHIP = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"  # its folder
DATA_ROWS = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"  # the raw file it imports
EVIL = "<script>alert(1)</script>"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
MAX_PRINT_PAGES = 120  # A4, Chromium's own PDF printing
MIN_PLOT_TEXT_PX = 9.0  # smallest legible text of a forest plot on a phone, CSS pixels


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


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("TRIALSYNTH_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(browser, path: Path, **context):
    ctx = browser.new_context(**({"viewport": {"width": 1400, "height": 900}} | context))
    page = ctx.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, dialogs


def _shown(page, selector: str) -> int:
    return page.evaluate(f"[...document.querySelectorAll({selector!r})]"
                         ".filter(e => e.getClientRects().length > 0).length")


def test_desktop_report_identity_plots_and_contents(browser, flagship_report: Path, shots) -> None:
    page, errors, dialogs = _open(browser, flagship_report / "index.html")
    assert errors == [] and dialogs == []
    assert page.locator("h1").inner_text() == \
        "Ketamine and other NMDA receptor antagonists for chronic pain"
    header = page.locator("header.id").inner_text()
    assert "Ferraro MC, Cashin AG" in header and "2025, Issue 8" in header
    assert page.locator("header.id a[href='https://doi.org/10.1002/14651858.CD015373.pub2']").count()
    sections = page.locator("article.analysis")
    assert sections.count() == 95  # every analysis of CD015373.pub2 has its section
    pooled = 0
    for i in range(sections.count()):
        article = sections.nth(i)
        if article.locator("text=Nothing pooled").count():
            continue
        pooled += 1
        assert article.locator("figure.plot svg").count() >= 1, article.locator("h3").inner_text()
    assert pooled == 91
    # comparison headings are unique (the three unnamed magnesium comparisons name their studies)
    headings = page.locator("section.comparison > h2").all_inner_texts()
    assert len(headings) == 13 and len(set(headings)) == 13
    assert any("Fischer 2013, Voogd 2010" in h for h in headings)
    # contents links land on their targets; the panel stays in view (sticky)
    links = page.locator("nav.toc a[href^='#a']")
    assert links.count() == 95
    for i in (0, 47, 94):
        link = links.nth(i)
        link.locator("xpath=ancestor::details[1]/summary").click()
        href = link.get_attribute("href")
        link.click()
        assert page.evaluate("location.hash") == href
        box = page.locator(f"[id='{href[1:]}']").bounding_box()
        assert box is not None and -5 <= box["y"] <= 900
        nav = page.locator("nav.toc").bounding_box()
        assert nav is not None and abs(nav["y"]) < 1 and nav["height"] > 800
    # every SoF row has an anchor; the exports are linked from the page
    assert page.locator("table.sof tbody tr:not([id])").count() == 0
    for path in ("tables/sof.docx", "tables/sof.csv", "tables/certainty.csv"):
        assert page.locator(f"a[href='{path}']").count() >= 1
        assert (flagship_report / path).is_file()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "flagship-desktop.png"))
    page.context.close()


def test_filters_narrow_analyses_and_sof_rows(browser, flagship_report: Path) -> None:
    data = json.loads((flagship_report / "results.json").read_text(encoding="utf-8"))
    facets = {a["id"]: a["facets"] for a in data["analyses"]}
    page, errors, _ = _open(browser, flagship_report / "index.html")
    form = page.locator("#filters")
    assert form.is_visible()  # the script shows it; without scripts it stays hidden
    form.locator("select[name=drug]").select_option("magnesium")
    expected = sum(f["drug"] == "magnesium" for f in facets.values())
    assert 0 < expected < 95
    assert _shown(page, "article.analysis") == expected
    assert _shown(page, "section.comparison") == len({f["comparison"] for f in facets.values()
                                                      if f["drug"] == "magnesium"})
    assert form.locator("output").inner_text() == f"{expected} of 95 analyses shown"
    form.locator("select[name=drug]").select_option("")
    form.locator("select[name=outcome]").select_option("pain-intensity")
    form.locator("select[name=window]").select_option("short-term")
    want = [i for i, f in facets.items() if f["outcome"] == "pain-intensity"
            and f["window"] == "short-term"]
    assert _shown(page, "article.analysis") == len(want) > 0
    rows = page.locator("table.sof tbody tr")
    visible = [rows.nth(i) for i in range(rows.count()) if rows.nth(i).is_visible()]
    assert visible and all(r.get_attribute("data-outcome") == "pain-intensity" for r in visible)
    form.locator("button[type=reset]").click()
    form.locator("input[name=text]").fill("martin 2019")
    with_martin = [a["id"] for a in data["analyses"]
                   if any(s["study"] == "Martin 2019" for s in a["studies"])]
    assert _shown(page, "article.analysis") == len(with_martin) > 0
    form.locator("button[type=reset]").click()
    assert _shown(page, "article.analysis") == 95
    assert errors == []
    page.context.close()


def test_phone_no_sideways_scroll_and_legible_plots(browser, flagship_report: Path, shots) -> None:
    page, errors, _ = _open(browser, flagship_report / "index.html", **PHONE)
    assert errors == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width} px wide on a 390-px phone"
    # forest-plot text at its drawn size: the plot scrolls inside its own box instead
    px = page.evaluate("""() => { const s = document.querySelector('article figure.plot svg');
        const t = s.querySelector('text'); const scale = s.getBoundingClientRect().width
        / s.viewBox.baseVal.width; return parseFloat(getComputedStyle(t).fontSize) * scale; }""")
    assert px >= MIN_PLOT_TEXT_PX
    box = page.locator("article figure.plot").first.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 391
    # summary-of-findings rows read as cards with their column names
    cell = page.locator("table.sof tbody tr td.cmt").first
    assert page.evaluate("e => getComputedStyle(e).display", cell.element_handle()) == "block"
    page.screenshot(path=str(shots / "flagship-phone-top.png"))
    page.locator("#c1 .tw").first.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "flagship-phone-sof.png"))
    # a few taps from the contents to an analysis: open a comparison, tap the analysis
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("nav.toc li.cmp[data-comparison='7'] > details > summary").tap()
    page.locator("nav.toc a[href='#a7-10']").tap()
    assert page.evaluate("location.hash") == "#a7-10"
    box = page.locator("[id='a7-10']").bounding_box()
    assert box is not None and -5 <= box["y"] <= 844
    page.screenshot(path=str(shots / "flagship-phone-analysis.png"))
    page.context.close()


def test_reads_fully_without_scripts(browser, flagship_report: Path) -> None:
    page, errors, _ = _open(browser, flagship_report / "index.html", java_script_enabled=False)
    assert errors == []
    assert _shown(page, "article.analysis") == 95
    assert not page.locator("#filter-box").is_visible()  # the filters need the script
    page.locator("nav.toc li.cmp[data-comparison='1'] > details > summary").click()
    assert page.locator("nav.toc a[href='#a1-1']").is_visible()
    page.context.close()


def test_print_opens_footnotes_and_fits_a4(browser, flagship_report: Path, shots) -> None:
    page, errors, _ = _open(browser, flagship_report / "index.html")
    page.emulate_media(media="print")
    assert page.locator("details.fn ul.fn li").first.is_visible()  # footnotes open
    assert not page.locator("nav.toc").is_visible()
    too_wide = page.evaluate("""() => [...document.querySelectorAll('main *')].filter(e =>
        !e.closest('svg') && e.getBoundingClientRect().right > document.documentElement.clientWidth
        + 1).length""")
    assert too_wide == 0  # nothing is clipped at the right margin
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 20 < pages <= MAX_PRINT_PAGES
    (shots / "flagship-print.pdf").write_bytes(pdf)
    page.set_viewport_size({"width": 794, "height": 1123})  # one A4 page at 96 dpi
    page.locator("#c1").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "flagship-print-sof.png"))
    assert errors == []
    page.context.close()


def test_raw_data_file_still_reads_on_a_phone(browser, tmp_path: Path) -> None:
    """The raw data-rows file (no review folder: no title, no drugs) gives a usable page too."""
    run_review(DATA_ROWS, tmp_path / "raw", quiet=True)
    page, errors, _ = _open(browser, tmp_path / "raw" / "index.html", **PHONE)
    assert errors == [] and page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("h1").inner_text() == "Review CD015373.pub2"  # what the file states
    assert _shown(page, "article.analysis") == 95
    page.context.close()


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
                        "Analysis.name": f"Adverse events {EVIL}", "Study": study,
                        "Study.year": 2001, "Experimental.cases": a, "Experimental.N": n1,
                        "Control.cases": c, "Control.N": n2})
    run_review(source, tmp_path / "out", quiet=True)
    page, errors, dialogs = _open(browser, tmp_path / "out" / "index.html")
    assert dialogs == [] and errors == []
    assert page.locator(f"text={EVIL}").count() >= 1  # visible as literal text
    assert page.locator("script").count() == 1  # only the report's own filter script
    page.locator("#filters input[name=text]").fill("alert")  # the name is data, not code
    assert dialogs == [] and _shown(page, "article.analysis") == 1
    page.context.close()
