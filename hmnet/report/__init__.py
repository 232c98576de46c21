"""Report helpers for the notebooks and the book: parameter checks, banners, side-by-side tables, figures.

Every notebook calls :func:`setup` (which runs :func:`check_parameters`) right after its ``parameters``
cell, so a papermill parameter of the wrong type or value fails in the first code cell with a message that
names the parameter and the allowed values. :func:`banner` then states which profile, data, backbone and seeds
produced the page's numbers, so smoke numbers can never be mistaken for the paper reproduction.

No logic lives only in a notebook: the comparisons with the paper, the tidy frames behind each figure
and the figure files are made here.

The notebooks, the book and the tests use ``hmnet.report.<name>``; the helpers live in these modules:

- :mod:`hmnet.report.parameters`: ParameterError, RunParameters, check_parameters and the other checks;
- :mod:`hmnet.report.page`: the notebooks' one :func:`setup` call, prose (:func:`show_text`), plan lines;
- :mod:`hmnet.report.display`: the Colab badge and install, the banner, side-by-side tables;
- :mod:`hmnet.report.figures`: figure and table files, plot and runtime set-up, recorded findings;
- :mod:`hmnet.report.tables`: tables as the book shows them (compact comparisons, a CSV link under each);
- :mod:`hmnet.report.runs`: what the sections share (task lists, smoke reductions, running a plan);
- :mod:`hmnet.report.relevance` (01), :mod:`hmnet.report.groupings` (groupings, 02),
  :mod:`hmnet.report.results` (03 Table 1, 04 shared layers), :mod:`hmnet.report.layer_grid` (05),
  :mod:`hmnet.report.attention` (06), :mod:`hmnet.report.own_tasks` (07, your own tasks from a task file);
- :mod:`hmnet.report.export`: a stored run's kept model as a Hugging Face folder with its model card.

A name is looked up in the module that defines it, so a test that monkeypatches a helper patches it there
(e.g. ``hmnet.report.runs.run_plan``), not on this package. ``hmnet.reproduce.code_fingerprint`` hashes every
module of this package.
"""

from __future__ import annotations

import warnings

from hmnet.report.attention import (
    PAPER_ATTENTION_PAIRS,
    attention_configs,
    attention_figure,
    attention_finding,
    attention_lines,
    attention_runs,
    attention_stored,
    attention_tables,
    choose_attention_pairs,
    layer_similarity,
    models_table,
    pairs_table,
    show_attention_models,
)
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
    load_relevance,
    PAPER_TABLE_OF,
    agreement_findings,
    agreement_table,
    appendix_a,
    cluster_relevance,
    coassignment_figure,
    extra_groupings,
    grouping_dict,
    grouping_frame,
    grouping_text,
    groupings_summary,
    groupings_table,
    load_groupings,
    load_relevance_matrices,
    our_groupings,
    paper_groupings,
    paper_matrices,
    save_groupings,
    stability_summary,
    table1_groupings,
)
from hmnet.report.parameters import (
    NOTEBOOK_FIELDS,
    PROFILES,
    ParameterError,
    RunParameters,
    check_data_dir,
    check_int,
    check_parameters,
    check_tasks,
)
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
    lookahead_configs,
    matrix_figure,
    matrix_side_by_side,
    model_relevance_comparison,
    pairwise_configs,
    pairwise_relevance,
    save_relevance,
    show_manual_design,
    show_word_definitions,
)
from hmnet.report.layer_grid import (
    check_ci_splits,
    check_grid,
    figure4,
    grid_splits,
    layer_grid,
    layer_grid_configs,
    layer_grid_finding,
    layer_grid_results,
    layer_grid_runs,
    layer_grid_text,
    paper_neighbourhood,
    select_groupings,
)
from hmnet.report.results import (
    backbone_depth,
    band_figure,
    ci_frame,
    constant_baselines,
    figure3,
    majority_baseline,
    paper_peak,
    parameter_rows,
    peak_contrast,
    published_averages,
    ranking_finding,
    ranking_sentence,
    scores_frame,
    shared_layers_configs,
    shared_layers_findings,
    shared_layers_lines,
    shared_layers_results,
    shared_layers_runs,
    table1_comparison,
    table1_figure,
    table1_configs,
    table1_results,
    table1_runs,
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
from hmnet.report.crosscheck import (floor_note, hf_crosscheck, learned_note, not_learned, probe_findings,
                                     probe_summary, scale_probes, single_task_checks, single_vs_majority)
from hmnet.report.export import export_run, run_summary
from hmnet.report.own_tasks import (export_own_model, own_groupings, own_model_relevance, own_predictions, own_results,
                                    own_task_file, own_vocabulary_relevance, show_task_file)
from hmnet.report.page import SECTION_MINIMUMS, check_section_parameters, plan_text, setup, show_text
from hmnet.report.runs import (
    SMOKE_GRID_TASKS,
    SMOKE_RELEVANCE_TASKS,
    run_plan,
    run_seconds,
    section_tasks,
)

# tqdm.auto warns once per kernel that ipywidgets is absent; the notebooks show no progress bars anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

__all__ = [
    # parameters
    "NOTEBOOK_FIELDS", "PROFILES", "ParameterError", "RunParameters", "check_data_dir", "check_int",
    "check_parameters", "check_tasks",
    # the page: one setup call, prose, what a section runs
    "SECTION_MINIMUMS", "check_section_parameters", "plan_text", "setup", "show_text",
    # banner, Colab, side-by-side tables
    "COLAB_URL", "GITHUB_ORG", "GITHUB_REPO", "REPO_URL", "banner", "banner_html", "banner_text", "colab_badge",

    "agreement_summary", "describe_agreement", "long_comparison", "side_by_side", "style_comparison",
    # figures and files
    "env_summary", "heatmap", "record_finding", "reset_findings", "save_figure", "save_table", "setup_plots",
    "setup_runtime",
    # tables as the book shows them
    "csv_link", "matrix_comparison_html", "parameter_display", "readable", "show_matrix_comparison",
    "show_parameter_table", "show_table", "show_table1",
    "table1_difference_figure", "table1_html", "table1_long",
    # what the sections share
    "SMOKE_GRID_TASKS", "SMOKE_RELEVANCE_TASKS", "run_plan", "run_seconds", "section_tasks",
    # 01: relevance
    "affinity_comparison", "affinity_scatter", "agreement_finding", "data_relevance", "data_relevance_comparison",
    "figure2", "influence_figure", "influence_finding", "influence_frame", "influence_pivot", "influence_signs",
    "load_relevance", "model_relevance_comparison", "save_relevance", "show_manual_design", "show_word_definitions",
    "lookahead_affinity", "lookahead_configs", "matrix_figure", "matrix_side_by_side", "pairwise_configs",
    "pairwise_relevance",
    # groupings, 02: clustering
    "PAPER_TABLE_OF", "agreement_findings", "agreement_table", "appendix_a", "cluster_relevance",
    "coassignment_figure", "grouping_dict", "grouping_frame", "grouping_text", "groupings_summary", "groupings_table",
    "extra_groupings", "load_groupings", "load_relevance_matrices", "our_groupings", "paper_groupings",
    "paper_matrices", "save_groupings", "stability_summary", "table1_groupings",
    # 03: Table 1; 04: shared layers; 05: layer grid
    "backbone_depth", "band_figure", "check_grid", "ci_frame", "layer_grid", "layer_grid_configs", "layer_grid_runs",
    "figure3", "figure4", "grid_splits", "layer_grid_finding", "layer_grid_results", "layer_grid_text",
    "check_ci_splits", "paper_neighbourhood", "select_groupings", "constant_baselines",
    "majority_baseline", "paper_peak", "parameter_rows", "peak_contrast", "published_averages", "ranking_finding",
    "ranking_sentence", "scores_frame", "shared_layers_configs", "shared_layers_findings", "shared_layers_lines",
    "shared_layers_results", "shared_layers_runs", "table1_comparison", "table1_configs", "table1_figure",
    "table1_results", "table1_runs",
    # 03: the single-task column against the majority class and the HF Trainer
    "floor_note", "hf_crosscheck", "learned_note", "not_learned", "probe_findings", "probe_summary", "scale_probes",
    "single_task_checks", "single_vs_majority",
    # 06: attention
    "PAPER_ATTENTION_PAIRS", "attention_figure", "attention_finding", "attention_lines", "attention_configs",
    "attention_runs", "attention_stored", "attention_tables", "choose_attention_pairs", "layer_similarity",
    "pairs_table", "models_table", "show_attention_models",
    # 07: your own tasks; a run's model in the Hugging Face format
    "export_own_model", "own_groupings", "own_model_relevance", "own_predictions", "own_results", "own_task_file",
    "own_vocabulary_relevance", "show_task_file", "export_run", "run_summary",
]
