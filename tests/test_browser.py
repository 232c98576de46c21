"""The built books as a reader sees them: Playwright drives Debian's chromium over every HTML page at a
1400-pixel-wide window, for two builds: the smoke book tests/test_book.py checks, and the reference book `make
book` gives on a fresh clone (the committed stores alone; tests/_companion.py builds each once per session). One
browser pass per build collects what every test below asserts, and saves screenshots of the main pages under
_build/screenshots/<build>_<page>.png (not committed).

Set $HMNET_BOOK_HTML to an html folder (e.g. _build/html after `hmnet book --profile smoke`) to check that
build instead of the smoke build.

The test machine is offline: requests to other hosts (the Colab badge, MathJax from its CDN) are answered
with an empty stub and listed, so a page is judged on its own files.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from _companion import built_book, reference_book
from hmnet.book.stage import toc_pages

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1400, 1000
SCREENSHOTS = REPO / "_build" / "screenshots"
# Pages photographed for a human look (file stem under _build/screenshots -> page).
SHOTS = {"intro": "book/intro", "table1": "notebooks/03_main_results", "figure3": "notebooks/04_shared_layers",
         "claims": "book/claims", "findings": "book/findings", "performance": "book/performance"}
BUILDS = ("smoke", "reference")
# A log line printed into a page (a warning of the package, a progress bar's complaint).
LOG_LINE = r"\b(WARNING|INFO|DEBUG|ERROR) hmnet\.|evaluating without them|IProgress not found"
# Hosts a page may ask for; the test answers them with a stub (no network here).
EXTERNAL_OK = ("colab.research.google.com", "cdn.jsdelivr.net")

# Console errors that come from the toolchain, not from the book: sphinx-thebe 0.3.1 (pulled in by Jupyter
# Book 1.x) adds its inline config script twice under Sphinx 7, so the second `const THEBE_JS_URL` throws on
# every page; it is harmless (the first one defined it) and cannot be switched off from _config.yml.
KNOWN_CONSOLE_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)

# Every visible block of the article that scrolls sideways, and whether the page itself does.
OVERFLOW_JS = """() => {
  const main = document.querySelector('main.bd-main') || document.querySelector('main');
  const wide = [];
  for (const el of document.querySelectorAll('.bd-article *')) {
    const style = getComputedStyle(el);
    if (!['auto', 'scroll'].includes(style.overflowX)) continue;
    if (el.offsetParent === null || el.getClientRects().length === 0) continue;
    if (el.scrollWidth > el.clientWidth + 1)
      wide.push(`${el.tagName}.${el.className} ${el.scrollWidth}>${el.clientWidth}: `
                + (el.innerText || '').slice(0, 60).replace(/\\s+/g, ' '));
  }
  return {main: main ? [main.scrollWidth, main.clientWidth] : null,
          page: [document.documentElement.scrollWidth, window.innerWidth], wide: wide};
}"""
IMAGES_JS = """() => Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"""
# Images inside the section with this id (the Table 1 page's pattern figures).
SECTION_IMAGES_JS = """(id) => {
  const s = document.getElementById(id);
  return s ? s.querySelectorAll('img').length : -1;
}"""


def _launch(p):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-background-networking"])


def _html_pages(html_dir: Path) -> list[str]:
    """Every content page of the build (index.html only redirects; genindex and search are Sphinx's)."""
    skip = {"index", "genindex", "search"}
    return sorted(p.relative_to(html_dir).with_suffix("").as_posix() for p in html_dir.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts
                  and p.relative_to(html_dir).with_suffix("").as_posix() not in skip)


@pytest.fixture(scope="module", params=BUILDS)
def seen(request) -> dict:
    """One browser pass over a build: per page its overflow, images, console errors, banners and log lines; the
    sidebar's links; the search page's results for "BoolQ"; screenshots of SHOTS."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright; the test extra)")
    if request.param == "reference":
        html_dir = reference_book()
    else:
        html_dir = Path(os.environ["HMNET_BOOK_HTML"]).resolve() if os.environ.get("HMNET_BOOK_HTML") else built_book()
    out: dict = {"build": request.param, "pages": {}, "external": set(), "html_dir": html_dir}
    t0 = time.perf_counter()
    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # an uncaught exception reaches both handlers; the known duplicate is dropped below
        page.on("pageerror", lambda e: errors.append(str(e)))

        def stub(route):
            url = route.request.url
            out["external"].add(urlparse(url).hostname)
            body = "<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>" if ".svg" in url else ""
            route.fulfill(status=200, body=body,
                          content_type="image/svg+xml" if ".svg" in url else "application/javascript")

        page.route("http://**/*", stub)
        page.route("https://**/*", stub)
        for name in _html_pages(html_dir):
            errors.clear()
            page.goto((html_dir / f"{name}.html").as_uri(), wait_until="load")
            out["pages"][name] = _visit(page, errors)
            for stem, target in SHOTS.items():
                if target == name:
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOTS / f"{request.param}_{stem}.png"), full_page=True)
        page.goto((html_dir / "search.html").as_uri() + "?q=BoolQ", wait_until="load")
        try:
            page.wait_for_selector("#search-results ul.search li", timeout=15_000)
        except sync_api.Error:
            pass
        out["search"] = page.eval_on_selector_all("#search-results ul.search li a",
                                                  "els => els.map(a => a.getAttribute('href'))")
        page.goto((html_dir / "index.html").as_uri(), wait_until="load")
        try:  # index.html forwards with a meta refresh
            page.wait_for_url("**/book/intro.html", timeout=5_000)
        except sync_api.Error:
            pass
        out["index_lands_on"] = page.url
        browser.close()
    out["seconds"] = time.perf_counter() - t0
    return out


def _visit(page, errors: list[str]) -> dict:
    """What one loaded page shows: overflow, images, console errors, its banners, log lines, its sidebar links,
    and the images of its pattern section."""
    import re

    text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    return {
        "overflow": page.evaluate(OVERFLOW_JS),
        "images": page.evaluate(IMAGES_JS),
        "errors": [e for e in errors if not any(k in e for k in KNOWN_CONSOLE_ERRORS)],
        "banner": page.locator("div.hmnet-banner").first.is_visible() if page.locator("div.hmnet-banner").count()
        else False,
        "banners": page.locator("div.hmnet-banner").count(),
        "profile_banner": page.locator("div.hmnet-banner.hmnet-profile-smoke, div.hmnet-banner.hmnet-profile-local"
                                       ).count(),
        "log_lines": re.findall(LOG_LINE, text),
        "pattern_images": page.evaluate(SECTION_IMAGES_JS, "the-pattern-what-each-method-gains"),
        "forest": page.locator("img[src*='forest_']").count(),
        "sidebar": page.eval_on_selector_all("nav.bd-docs-nav a", "els => els.map(a => a.href)"),
    }


def test_pages_were_visited(seen):
    pages = set(seen["pages"])
    assert {p for p in toc_pages(REPO)} <= pages, sorted(set(toc_pages(REPO)) - pages)
    print(f"\nbrowser pass: {len(pages)} pages, search and screenshots in {seen['seconds']:.1f} s")
    assert seen["seconds"] < 60, f"the browser pass took {seen['seconds']:.0f} s"
    assert seen["external"] <= set(EXTERNAL_OK), f"unexpected hosts asked for: {seen['external']}"


@pytest.mark.parametrize("page", toc_pages(REPO))
def test_nothing_scrolls_sideways_at_1400_pixels(seen, page):
    o = seen["pages"][page]["overflow"]
    assert o["main"] is not None and o["main"][0] <= o["main"][1] + 1, f"{page}: main column {o['main']}"
    assert o["page"][0] <= o["page"][1], f"{page}: the page scrolls sideways {o['page']}"
    assert not o["wide"], f"{page}: blocks that scroll sideways: {o['wide']}"


@pytest.mark.parametrize("page", toc_pages(REPO))
def test_every_image_loads(seen, page):
    broken = [src for src, complete, width in seen["pages"][page]["images"] if not (complete and width > 0)]
    assert not broken, f"{page}: images that did not load: {broken}"


@pytest.mark.parametrize("page", toc_pages(REPO))
def test_no_console_errors(seen, page):
    assert not seen["pages"][page]["errors"], f"{page}: {seen['pages'][page]['errors']}"


@pytest.mark.parametrize("page", [p for p in toc_pages(REPO) if p.startswith("notebooks/")])
def test_result_pages_show_one_profile_banner(seen, page):
    info = seen["pages"][page]
    assert info["profile_banner"] == info["banners"] == 1 and info["banner"], f"{page}: {info['banners']} banners"


@pytest.mark.parametrize("page", toc_pages(REPO))
def test_no_log_line_in_a_page(seen, page):
    assert not seen["pages"][page]["log_lines"], f"{page}: {seen['pages'][page]['log_lines']}"


def test_the_pattern_figures_and_the_forest_plot_are_shown(seen):
    assert seen["pages"]["notebooks/03_main_results"]["pattern_images"] >= 2, "Table 1's two pattern figures"
    stores = len(list((REPO / "reference").glob("*/manifest.json")))  # the reference build is one of them
    ledgers = stores if seen["build"] == "reference" else stores + 1  # the build's own, then each store's
    assert seen["pages"]["book/claims"]["forest"] == ledgers, "a forest plot per ledger"


def test_sidebar_links_resolve(seen):
    html_dir = seen["html_dir"]
    links = {href for info in seen["pages"].values() for href in info["sidebar"]}
    local = [unquote(urlparse(h).path) for h in links if urlparse(h).scheme == "file"]
    assert local, "no sidebar links found"
    missing = [path for path in local if not Path(path).exists()]
    assert not missing, f"sidebar links to missing files: {missing}"
    linked = {Path(path).resolve().relative_to(html_dir.resolve()).with_suffix("").as_posix() for path in local}
    assert set(toc_pages(REPO)) - {toc_pages(REPO)[0]} <= linked | {"index"}, "a page is missing from the sidebar"


def test_search_finds_boolq(seen):
    assert seen["search"], "search.html?q=BoolQ listed no result"
    assert any("notebooks/" in h for h in seen["search"]), seen["search"]


def test_index_redirects_to_the_intro(seen):
    assert seen["index_lands_on"].endswith("book/intro.html"), seen["index_lands_on"]


def test_screenshots_saved(seen):
    for stem in SHOTS:
        shot = SCREENSHOTS / f"{seen['build']}_{stem}.png"
        assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000, shot
