"""The book: built once per session from the smoke notebooks (tests/_companion.py), then checked by
parsing its HTML (beautifulsoup4). tests/test_browser.py renders the same build in chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from _companion import built_book, smoke_run
from hmnet import report
from hmnet.book import findings as book_findings

from hmnet.book import stage as stage_module
from hmnet.book.stage import BookError, stage, toc_pages
from hmnet.store import path_replacements, scrub_paths

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
    "notebooks/07_your_own_tasks": (["Polarity", "Paraphrase"], 3),  # the toy task file's tasks
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
    assert "quantity | value" not in perf and "What each profile costs" in perf
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
    from hmnet.book.performance import performance_page

    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "hf_trainer_cpu.json").write_text(json.dumps({
        "what": "trainer comparison", "speed_ratio": 1.7, "runs": {"ours:auto": [{"examples_per_second": 19.1}]},
        "comparisons": {"defaults": {"ours_precision": "bf16", "hf_precision": "no", "speed_ratio": 1.7,
                                     "ours_examples_per_second": 19.1, "hf_examples_per_second": 11.2},
                        "both_bf16": {"ours_precision": "bf16", "hf_precision": "bf16", "speed_ratio": 1.02,
                                      "ours_examples_per_second": 19.1, "hf_examples_per_second": 18.7}}}))
    page = performance_page(tmp_path)
    section = page.split("## Our trainer against the Hugging Face Trainer")[1].split("\n## ")[0]
    assert "not yet measured" not in section and "hf_trainer_cpu.json" in section
    assert "| defaults |" in section.replace("  ", " ") and "both bf16" in section and "1.02" in section
    assert "ours:auto" not in section  # per-repeat rows stay in the JSON file
    assert "hf_trainer_cpu.png" in section and "[hf_trainer_cpu.json](/book/generated/performance/" in section
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


def test_the_performance_page_gives_the_notebook_time_this_build_measured(html_dir):
    """The smoke book's performance page states what executing its notebooks took, summed from their
    done-markers (the measured cost of regenerating the build, not a projection)."""
    import json

    from hmnet.book.reproduce import marker_path

    from hmnet.book.reproduce import PAGES as NOTEBOOKS

    out = smoke_run()
    seconds = [json.loads(marker_path(out, page).read_text())["seconds"] for page in NOTEBOOKS]
    text = _soup(html_dir / "book" / "performance.html").get_text(" ", strip=True)
    minutes = f"{sum(seconds) / 60:.1f} min" if sum(seconds) < 3600 else f"{sum(seconds) / 3600:.1f} h"
    assert f"{minutes}: this book’s {len(seconds)} notebooks" in text.replace("'", "’")  # Sphinx's smart quotes


# ---------------------------------------------------------------------------------------------------------
# what a reader sees: folded plumbing, no absolute paths, a CSV under every table, Table 1's shape


def _cells(soup):
    return soup.select("div.cell")


def test_the_plumbing_is_one_folded_cell_and_the_banner_shows_once(html_dir):
    """Papermill's parameters and injected cells, the Colab install and the setup call are one cell whose code is
    folded; its output, the page's one banner, is not; every other code cell shows its output only."""
    for page in PAGES:
        soup = _soup(html_dir / f"{page}.html")
        cells = _cells(soup)
        assert cells and not [c for c in cells if "tag_hide-cell" in c.get("class", [])], page
        plumbing = cells[0].get_text()  # the highlighted code: tokens in spans, not spaced
        assert "report.setup(" in plumbing and "google.colab" in plumbing and "profile" in plumbing, page
        assert all("tag_hide-input" in c["class"] for c in cells), page
        banners = soup.select("div.hmnet-banner")
        assert len(banners) == 1 and banners[0].find_parent("details") is None, page


def test_no_log_line_is_printed_into_a_page(html_dir):
    log_line = re.compile(r"\b(WARNING|INFO|DEBUG|ERROR) hmnet\.|evaluating without them|IProgress not found")
    for html in html_dir.rglob("*.html"):
        text = _soup(html).get_text(" ")
        assert not log_line.search(text), f"{html.relative_to(html_dir)}: {log_line.search(text).group(0)}"


def test_no_absolute_path_in_the_book(html_dir):
    workdir = str(html_dir.parents[1])  # tests/_companion.py builds under a temporary folder
    needles = [workdir, str(REPO), "/home/", "/root/", "/tmp/"]
    for html in html_dir.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        found = [n for n in needles if n in text]
        assert not found, f"{html.relative_to(html_dir)} shows {found}"


def test_every_table_of_a_result_page_links_its_csv(html_dir):
    for page in PAGES:
        soup = _soup(html_dir / f"{page}.html")
        for table in soup.select("div.cell_output table"):
            if table.find_parent("table") is not None:
                continue
            output = table.find_parent("div", class_="output")  # the link is the output right under it
            after = output.find_next_sibling() if output is not None else None
            link = after.find("a", class_="download") if after is not None else None
            assert link is not None and link.get_text().endswith(".csv"), f"{page}: a table without a CSV link"
            target = (html_dir / page).parent / unquote(link["href"])
            assert target.exists() and target.read_text().strip(), f"{page}: {link['href']} is missing"


def test_table1_page_shows_the_papers_shape_and_the_differences(html_dir):
    soup = _soup(html_dir / "notebooks" / "03_main_results.html")
    compact = soup.select_one("div.hmnet-compact-table table")
    assert [th.get_text(strip=True) for th in compact.select("thead th")][1:] == [
        "Single-task", "Multi-task", "SkillNet", "HMNet_d", "HMNet_md", "HMNet_m"]
    assert [tr.th.get_text(strip=True) for tr in compact.select("tbody tr")][-1] == "Average"
    figures = [i["src"] for i in soup.find("main").find_all("img") if "colab" not in i.get("src", "")]
    assert len(figures) >= 2  # the averages and the differences
    text = " ".join(_main_text(soup).split())
    assert "a box marks a cell whose 95% interval holds the paper" in text


def test_performance_page_has_a_figure_per_benchmark_and_links_the_raw_files(html_dir):
    soup = _soup(html_dir / "book" / "performance.html")
    main = soup.find("main")
    results = sorted((REPO / "benchmarks" / "results").glob("*.json"))
    assert len(main.find_all("img")) >= len(results)
    links = [a for a in main.find_all("a", class_="download") if a.get_text().endswith(".json")]
    assert sorted(a.get_text() for a in links) == [p.name for p in results]
    for a in links:
        assert ((html_dir / "book") / unquote(a["href"])).resolve().exists(), a["href"]
    text = _main_text(soup)
    for needle in ("Recorded command", "Ran on", "What each profile costs", "not yet measured on GPU"):
        assert needle in text, needle


def test_findings_page_says_the_split_sizes_need_the_files(html_dir, monkeypatch):
    text = _main_text(_soup(html_dir / "book" / "findings.html"))
    assert "Table 4 against the files" in text and "needs the data files" in text


def test_table4_every_number_against_the_files(shared_data_dir):
    check = book_findings.table4_file_check(shared_data_dir).set_index(["task", "column"])
    assert len(check) == 13 * 4
    # a rounded entry stands for a range; exact ones must match exactly
    assert check.loc[("SST-2", "#Train"), "verdict"] == "matches" and check.loc[("SST-2", "#Train"), "files"] == 67349
    assert check.loc[("RTE", "#Dev"), "verdict"] == "differs" and check.loc[("RTE", "#Dev"), "files"] == 277
    assert check.loc[("QNLI", "#Dev"), "verdict"] == "differs"  # 5 463 rows, printed 5.7k
    assert check.loc[("STS-B", "#Train"), "verdict"] == "differs"  # 5 749 rows, printed 7K
    assert check.loc[("CB", "#Label"), "files"] == 3 and check.loc[("CB", "#Label"), "verdict"] == "differs"
    assert check.loc[("MultiRC", "#Train"), "files"] == 5131 and check.loc[("MultiRC", "#Train"), "unit"] == "questions"
    assert check.loc[("IMDB", "#Dev"), "verdict"].startswith("matches")  # no dev split, printed 0k
    assert check.loc[("MNLI", "#Dev"), "verdict"].startswith("partly")  # dev_mismatched is not bundled
    assert check.loc[("QQP", "#Train"), "verdict"] == "not in the bundle"
    assert check.loc[("RTE", "#Test"), "verdict"].startswith("not in the bundle")
    page = book_findings.table4_section(shared_data_dir, files := {})
    assert "QNLI #Dev" in page and "findings/table4_check.csv" in files


def test_printed_range():
    assert book_findings.printed_range("5.7k") == (5650, 5750)
    assert book_findings.printed_range("393K") == (392500, 393500)
    assert book_findings.printed_range("276") == (276, 276)


def test_tag_cells_and_scrub_paths(tmp_path):
    import nbformat

    stored = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1", id="p"),
                                             nbformat.v4.new_code_cell("show()", id="s")])
    stored.cells[0].metadata["tags"] = ["parameters", "hide-cell"]
    stored.cells[1].metadata["tags"] = ["hide-input"]
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1", id="p"),
                                               nbformat.v4.new_code_cell(f'out_dir = "{tmp_path}/out"', id="i"),
                                               nbformat.v4.new_code_cell("show()", id="s")])
    executed.cells[0].metadata["tags"] = ["parameters"]  # executed before the tags changed
    executed.cells[1].metadata["tags"] = ["injected-parameters"]
    stage_module.tag_cells(executed, stored)
    assert [c.metadata["tags"] for c in executed.cells] == [["parameters", "hide-cell"],
                                                            ["injected-parameters", "hide-cell"], ["hide-input"]]
    root, out = tmp_path / "repo", tmp_path / "repo" / "_build" / "runs" / "smoke"
    swaps = path_replacements(out, "/data/nlu", root)
    text = f'out_dir = "{out}"; read from {out}/results; code in {root}/hmnet; data {{"/data/nlu"}}; {root}x'
    assert scrub_paths(text, swaps) == (
        'out_dir = "_build/runs/smoke"; read from _build/runs/smoke/results; code in ./hmnet; '
        'data {"$HMNET_DATA_DIR"}; ' + scrub_paths(f"{root}x", {k: v for k, v in swaps.items() if k != str(root)}))
    assert path_replacements(tmp_path / "elsewhere", None, root)[str((tmp_path / "elsewhere").resolve())] == "<out_dir>"


def test_fold_plumbing_merges_the_plumbing_cells_and_strip_logs_drops_stderr():
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("profile = 'smoke'"),
             nbformat.v4.new_code_cell("profile = 'local'"), nbformat.v4.new_code_cell("if 'google.colab' in m: pass"),
             nbformat.v4.new_code_cell("P = report.setup('01')"), nbformat.v4.new_code_cell("work()")]
    cells[1].metadata["tags"], cells[2].metadata["tags"] = ["parameters"], ["injected-parameters"]
    cells[4].outputs = [nbformat.v4.new_output("display_data", {"text/html": "<div class='hmnet-banner'/>"}),
                        nbformat.v4.new_output("stream", name="stderr", text="WARNING hmnet.data: a log line")]
    cells[5].outputs = [nbformat.v4.new_output("stream", name="stdout", text="a result")]
    nb = stage_module.strip_logs(stage_module.fold_plumbing(nbformat.v4.new_notebook(cells=cells)))
    assert [c.source.splitlines()[0] for c in nb.cells] == ["# Title", "profile = 'smoke'", "work()"]
    assert nb.cells[1].source.count("\n\n") == 3 and nb.cells[1].metadata["tags"] == ["hide-input"]
    assert [o.output_type for o in nb.cells[1].outputs] == ["display_data"]  # the banner; the log line is gone
    assert nb.cells[2].outputs[0].text == "a result"


def test_title_comes_before_the_folded_plumbing():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("profile = 'smoke'"),
                                         nbformat.v4.new_markdown_cell("# Title"),
                                         nbformat.v4.new_code_cell("work()")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    assert stage_module.title_first(nb).cells[1].source == "# Title"  # the parameters cell is not folded: stay
    nb.cells[0].metadata["tags"] = ["parameters", "hide-cell"]
    assert [c.source for c in stage_module.title_first(nb).cells] == ["# Title", "profile = 'smoke'", "work()"]
