"""Report helpers for the notebooks and the book: parameter checks, banners, side-by-side tables, figures.

Every notebook calls :func:`setup` (which runs :func:`check_parameters`) right after its ``parameters``
cell, so a papermill parameter of the wrong type or value fails in the first code cell with a message that
names the parameter and the allowed values. :func:`banner` then states which profile, data, backbone and seeds
produced the page's numbers, so smoke numbers can never be mistaken for the paper reproduction.

No logic lives only in a notebook: the comparisons with the paper, the tidy frames behind each figure
and the figure files are made here.

The notebooks, the book and the tests use ``hmnet.report.<name>``; the helpers live in these modules:

- :mod:`hmnet.report.page`: the notebooks' one :func:`setup` call, prose (:func:`show_text`), plan lines;
- :mod:`hmnet.report.display`: the Colab badge and install, the banner, side-by-side tables;
- :mod:`hmnet.report.figures`: figure and table files, plot and runtime set-up, recorded findings;
- :mod:`hmnet.report.tables`: tables as the book shows them (compact comparisons, a CSV link under each);
- :mod:`hmnet.report.relevance` (page 01), :mod:`hmnet.report.groupings` (groupings, 02),
  :mod:`hmnet.report.results` (03 Table 1, 04 shared layers), :mod:`hmnet.report.crosscheck` (03's
  single-task checks), :mod:`hmnet.report.layer_grid` (05), :mod:`hmnet.report.attention` (06),
  :mod:`hmnet.report.own_tasks` (07, your own tasks from a task file);
- :mod:`hmnet.report.export`: a stored run's kept model as a Hugging Face folder with its model card.

What a page runs is planned by its sections (:mod:`hmnet.sections`); this package re-exports the names the
notebooks plan with (the checked parameters, task lists, groupings, the layer grid's and Appendix C's choices),
so a notebook imports one package. A name is looked up in the module that defines it, so a test that
monkeypatches a helper patches it there (e.g. ``hmnet.train.run_plan``), not on this package.
``hmnet.book.reproduce.code_fingerprint`` hashes every module of this package and of :mod:`hmnet.sections`.
"""

from __future__ import annotations

import warnings

from hmnet.analysis.floors import constant_baselines, majority_baseline
from hmnet.report.attention import (
    attention_figure,
    attention_finding,
    attention_lines,
    layer_similarity,
    pairs_table,
    show_attention_models,
)
from hmnet.report.crosscheck import (floor_note, hf_crosscheck, learned_note, not_learned, probe_findings,
                                     probe_summary, scale_probes, single_task_checks, single_vs_majority)
from hmnet.report.display import (
    COLAB_URL,
    GITHUB_ORG,
    GITHUB_REPO,
    REPO_URL,
    agreement_summary,
    banner,
    banner_html,
    banner_text,
    colab_badge,
    describe_agreement,
    long_comparison,
    side_by_side,
    style_comparison,
)
from hmnet.report.export import export_run, run_summary
from hmnet.report.figures import (
    env_summary,
    heatmap,
    record_finding,
    reset_findings,
    save_figure,
    save_table,
    setup_plots,
    setup_runtime,
)
from hmnet.report.groupings import (
    PAPER_TABLE_OF,
    agreement_findings,
    agreement_table,
    appendix_a,
    cluster_relevance,
    coassignment_figure,
    grouping_frame,
    grouping_text,
    groupings_summary,
    groupings_table,
    load_relevance,
    load_relevance_matrices,
    our_groupings,
    paper_matrices,
    stability_summary,
    table1_groupings,
)
from hmnet.report.layer_grid import figure4, layer_grid_finding, layer_grid_results, layer_grid_runs, layer_grid_text
from hmnet.report.own_tasks import (export_own_model, own_groupings, own_model_relevance, own_predictions, own_results,
                                   own_task_file, own_vocabulary_relevance, show_task_file)
from hmnet.report.page import SECTION_MINIMUMS, check_section_parameters, plan_text, setup, show_text
from hmnet.report.pattern import show_pattern
from hmnet.report.relevance import (
    affinity_comparison,
    affinity_scatter,
    agreement_finding,
    data_relevance,
    data_relevance_comparison,
    figure2,
    influence_figure,
    influence_finding,
    influence_frame,
    influence_pivot,
    influence_signs,
    lookahead_affinity,
    matrix_figure,
    matrix_side_by_side,
    model_relevance_comparison,
    pairwise_relevance,
    run_seconds,
    save_relevance,
    show_manual_design,
    show_word_definitions,
)
from hmnet.report.results import (
    backbone_depth,
    band_figure,
    ci_frame,
    figure3,
    paper_peak,
    parameter_rows,
    peak_contrast,
    published_averages,
    ranking_finding,
    ranking_sentence,
    shared_layers_findings,
    shared_layers_lines,
    shared_layers_results,
    shared_layers_runs,
    table1_comparison,
    table1_figure,
    table1_results,
    table1_runs,
    table1_summary,
)
from hmnet.report.tables import (
    csv_link,
    matrix_comparison_html,
    parameter_display,
    readable,
    show_matrix_comparison,
    show_parameter_table,
    show_table,
    show_table1,
    table1_difference_figure,
    table1_html,
    table1_long,
)
from hmnet.results import scores_frame
# What the notebooks plan with, from the sections (hmnet.sections): the checked parameters, the section's task
# lists, the groupings and the layer grid's and Appendix C's choices.
from hmnet.sections.attention import (PAPER_ATTENTION_PAIRS, attention_configs, attention_runs, attention_tables,
                                      choose_attention_pairs, models_table)
from hmnet.sections.base import SMOKE_GRID_TASKS, SMOKE_RELEVANCE_TASKS, section_tasks
from hmnet.sections.groupings import (extra_groupings, grouping_dict, load_groupings, paper_groupings,
                                      save_groupings)
from hmnet.sections.groupings import check_grouping_names as select_groupings
from hmnet.sections.layer_grid import check_ci_splits, check_grid, grid_splits, layer_grid, paper_neighbourhood
from hmnet.sections.parameters import (NOTEBOOK_FIELDS, PROFILES, ParameterError, RunParameters, check_data_dir,
                                       check_int, check_parameters, check_tasks)

# tqdm.auto warns once per kernel that ipywidgets is absent; the notebooks show no progress bars anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

__all__ = [
    "COLAB_URL", "GITHUB_ORG", "GITHUB_REPO", "NOTEBOOK_FIELDS", "PAPER_ATTENTION_PAIRS", "PAPER_TABLE_OF",
    "PROFILES", "REPO_URL", "SECTION_MINIMUMS", "SMOKE_GRID_TASKS", "SMOKE_RELEVANCE_TASKS", "affinity_comparison",
    "affinity_scatter", "agreement_finding", "agreement_findings", "agreement_summary", "agreement_table",
    "appendix_a", "attention_configs", "attention_figure", "attention_finding", "attention_lines", "attention_runs",
    "attention_tables", "backbone_depth", "band_figure", "banner", "banner_html", "banner_text", "check_ci_splits",
    "check_data_dir", "check_grid", "check_int", "check_parameters", "check_section_parameters", "check_tasks",
    "choose_attention_pairs", "ci_frame", "cluster_relevance", "coassignment_figure", "colab_badge",
    "constant_baselines", "csv_link", "data_relevance", "data_relevance_comparison", "describe_agreement",
    "env_summary", "export_own_model", "export_run", "extra_groupings", "figure2", "figure3", "figure4",
    "floor_note", "grid_splits", "grouping_dict", "grouping_frame", "grouping_text", "groupings_summary",
    "groupings_table", "heatmap", "hf_crosscheck", "influence_figure", "influence_finding", "influence_frame",
    "influence_pivot", "influence_signs", "layer_grid", "layer_grid_finding", "layer_grid_results",
    "layer_grid_runs", "layer_grid_text", "layer_similarity", "learned_note", "load_groupings", "load_relevance",
    "load_relevance_matrices", "long_comparison", "lookahead_affinity", "majority_baseline",
    "matrix_comparison_html", "matrix_figure", "matrix_side_by_side", "model_relevance_comparison", "models_table",
    "not_learned", "our_groupings", "own_groupings", "own_model_relevance", "own_predictions", "own_results",
    "own_task_file", "own_vocabulary_relevance", "pairs_table", "pairwise_relevance", "paper_groupings",
    "paper_matrices", "paper_neighbourhood", "paper_peak", "parameter_display", "parameter_rows", "ParameterError",
    "peak_contrast", "plan_text", "probe_findings", "probe_summary", "published_averages", "ranking_finding",
    "ranking_sentence", "readable", "record_finding", "reset_findings", "run_seconds", "run_summary",
    "RunParameters", "save_figure", "save_groupings", "save_relevance", "save_table", "scale_probes", "scores_frame",
    "section_tasks", "select_groupings", "setup", "setup_plots", "setup_runtime", "shared_layers_findings",
    "shared_layers_lines", "shared_layers_results", "shared_layers_runs", "show_attention_models",
    "show_manual_design", "show_matrix_comparison", "show_parameter_table", "show_pattern", "show_table", "show_table1",
    "show_task_file", "show_text", "show_word_definitions", "side_by_side", "single_task_checks",
    "single_vs_majority", "stability_summary", "style_comparison", "table1_comparison", "table1_difference_figure",
    "table1_figure", "table1_groupings", "table1_html", "table1_long", "table1_results", "table1_runs",
    "table1_summary",
]
