"""The book: built once per session from the smoke notebooks (tests/_companion.py), then checked by
parsing its HTML (beautifulsoup4) and, where Debian's chromium is installed, by rendering it headless."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from _companion import built_book, smoke_run
from hmnet import report
from hmnet.book import BookError, stage, toc_pages

bs4 = pytest.importorskip("bs4")
REPO = Path(__file__).resolve().parents[1]

# Per page: numbers of the paper that must appear beside ours (as printed by the page), and the least
# number of figures.
PAGES = {
    "notebooks/01_task_relevance": (["97.64", "15.96", "5.93"], 4),  # Table 2 and 3 cells (MNLI -> RTE, BoolQ)
    "notebooks/02_task_clustering": (["{CB, WNLI}", "{BoolQ, IMDB, MNLI, QNLI, QQP, SNLI}"], 2),  # Appendix A
    "notebooks/03_main_results": (["84.0", "81.2", "450M"], 1),  # HMNet_m average, RTE, SkillNet params
    "notebooks/04_shared_layers": ([], 1),
    "notebooks/05_layer_combinations": ([], 1),
    "notebooks/06_attention_similarity": (["QQP & RTE"], 1),
}


@pytest.fixture(scope="session")
def html_dir() -> Path:
    return built_book()


def _soup(path: Path):
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _main_text(soup) -> str:
    main = soup.find("main") or soup
    return main.get_text(" ", strip=True)


def test_every_toc_page_is_built(html_dir):
    for page in toc_pages(REPO):
        assert (html_dir / f"{page}.html").exists(), page
    assert (html_dir / "index.html").exists()


@pytest.mark.parametrize("page", list(PAGES))
def test_result_pages_hold_tables_figures_and_paper_numbers(html_dir, page):
    soup = _soup(html_dir / f"{page}.html")
    banner = soup.select_one("div.hmnet-banner")
    assert banner is not None and "SMOKE profile" in banner.get_text() and "backbone: tiny" in banner.get_text()
    main = soup.find("main")
    assert len(main.find_all("table")) >= 1, f"{page}: no table"
    imgs = main.find_all("img")
    figures = [i for i in imgs if "colab-badge" not in (i.get("src") or "")]
    assert len(figures) >= PAGES[page][1], f"{page}: {len(figures)} figures"
    text = _main_text(soup)
    for number in PAGES[page][0]:
        assert number in text, f"{page}: the paper's {number!r} is not shown"
    assert "Traceback" not in text


def test_narrative_pages(html_dir):
    method = _main_text(_soup(html_dir / "book" / "method.html"))
    assert "V_s" in method or "V_{s}" in method or "|V" in method  # the equations are there (raw TeX offline)
    findings = _main_text(_soup(html_dir / "book" / "findings.html"))
    for needle in ("HMNet_md", "reachable", "CB", "entailment, contradiction, neutral", "Single-task"):
        assert needle in findings, needle
    perf = _main_text(_soup(html_dir / "book" / "performance.html"))
    assert "Padding efficiency" in perf and "python benchmarks/padding.py" in perf
    assert "Our trainer against the Hugging Face Trainer" in perf
    assert "GPU" in perf
    refs = _main_text(_soup(html_dir / "book" / "bibliography.html"))
    for author in ("Devlin", "Liu", "Tang", "Fifty", "Wang"):
        assert author in refs, author
    reproduce = _main_text(_soup(html_dir / "book" / "reproduce.html"))
    assert "--profile paper" in reproduce and "accelerate launch" in reproduce and "Colab" in reproduce
    for page in ("book/intro", "book/method", "book/findings"):
        banner = _soup(html_dir / f"{page}.html").select_one("div.hmnet-banner")
        assert banner is not None and "SMOKE" in banner.get_text(), page


def test_performance_page_shows_each_comparison_of_a_benchmark(tmp_path):
    from hmnet.book_pages import performance_page

    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "hf_trainer_cpu.json").write_text(json.dumps({
        "what": "trainer comparison", "speed_ratio": 1.7, "runs": {"ours:auto": [{"examples_per_second": 19.1}]},
        "comparisons": {"defaults": {"ours_precision": "bf16", "hf_precision": "no", "speed_ratio": 1.7},
                        "both_bf16": {"ours_precision": "bf16", "hf_precision": "bf16", "speed_ratio": 1.02}}}))
    page = performance_page(tmp_path)
    section = page.split("## Our trainer against the Hugging Face Trainer")[1].split("\n## ")[0]
    assert "not yet measured" not in section and "hf_trainer_cpu.json" in section
    assert "| defaults |" in section.replace("  ", " ") and "both_bf16" in section and "1.02" in section
    assert "ours:auto" not in section  # per-repeat rows stay in the JSON file
    assert "## Padding efficiency" in page and "not yet measured" in page.split("## Padding efficiency")[1]


def test_all_images_resolve(html_dir):
    for html in html_dir.rglob("*.html"):
        for img in _soup(html).find_all("img"):
            src = img.get("src") or ""
            if src.startswith(("http://", "https://", "data:")):
                continue
            target = (html.parent / unquote(urlparse(src).path)).resolve()
            assert target.exists(), f"{html.relative_to(html_dir)}: missing image {src}"


def test_colab_links_and_repository(html_dir):
    page = (html_dir / "notebooks" / "01_task_relevance.html").read_text()
    assert (f"colab.research.google.com/github/{report.GITHUB_REPO}/blob/main/notebooks/01_task_relevance.ipynb"
            in page)
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"]["url"] == report.REPO_URL
    assert config["execute"]["execute_notebooks"] == "off"
    assert report.GITHUB_REPO in (REPO / "README.md").read_text()


def test_missing_executed_notebook_names_the_command(tmp_path):
    out = tmp_path / "runs"
    (out / "notebooks").mkdir(parents=True)
    with pytest.raises(BookError, match=r"01_task_relevance\.ipynb.*hmnet reproduce --profile smoke"):
        stage("smoke", out, tmp_path / "stage")


# ---------------------------------------------------------------------------------------------------------
# headless browser


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("page", ["index", "notebooks/03_main_results"])
def test_headless_browser_renders(html_dir, page):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    url = (html_dir / f"{page}.html").as_uri()
    shots = html_dir.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    shot = shots / f"{page.replace('/', '_')}.png"
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--virtual-time-budget=8000", "--timeout=20000", "--window-size=1280,2000"]
    subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    soup = bs4.BeautifulSoup(dom, "html.parser")
    assert soup.select_one("div.hmnet-banner") is not None
    srcs = [i.get("src") for i in soup.find_all("img") if i.get("src")]
    if page != "index":  # index.html redirects to the intro, which has no figure
        assert srcs
    for src in srcs:
        parsed = urlparse(src)
        if parsed.scheme in ("http", "https", "data"):
            continue
        path = Path(unquote(parsed.path)) if parsed.scheme == "file" else (html_dir / page).parent / unquote(src)
        assert path.resolve().exists(), f"{page}: image {src} does not resolve"


def test_timings_are_recorded(html_dir):
    from _companion import TIMINGS

    smoke_run()
    assert "book" in TIMINGS
    print(f"\nsmoke reproduce: {TIMINGS.get('reproduce', float('nan')):.0f} s; book build: {TIMINGS['book']:.0f} s")
