"""What every notebook page does around its sections: the one setup call, prose from measured values, and the
line that says what a section runs.

A notebook's code cells hold its parameters, one :func:`setup` call, calls into :mod:`hmnet.report` and prose
(tests/test_notebook_style.py checks it): the text a page shows is built here, so it is unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence

from hmnet.report.display import banner
from hmnet.report.figures import reset_findings, setup_plots, setup_runtime
from hmnet.sections.parameters import ParameterError, RunParameters, check_int, check_parameters

# Section parameters beyond the common ones: the least value of each (all are integers).
SECTION_MINIMUMS = {"k": 2, "stability_seeds": 2, "probe_examples": 1}


def check_section_parameters(**values) -> dict:
    """Validate a notebook's own integer parameters (k, stability_seeds, probe_examples); returns them."""
    for name, value in values.items():
        if name not in SECTION_MINIMUMS:
            raise ParameterError(f"parameter {name!r} is unknown; known section parameters: "
                                 f"{', '.join(SECTION_MINIMUMS)}")
        check_int(name, value, SECTION_MINIMUMS[name], allow_none=False)
    return dict(values)


def setup(section: str, profile: str = "smoke", tasks=None, seeds=None, backbone=None, data_dir=None,
          out_dir=None, max_train_examples=None, max_eval_examples=None, max_length=None, protocol=None,
          task_file=None, store_only=False, **section_parameters) -> RunParameters:
    """A notebook's one setup call: :func:`check_parameters` (and the section's own parameters, see
    :data:`SECTION_MINIMUMS`), plot and runtime set-up, the section's findings reset, and the banner displayed.

    Returns the resolved :class:`RunParameters`; the section parameters are kept in ``extra``.
    """
    from IPython.display import display

    extra = check_section_parameters(**section_parameters)
    params = check_parameters(profile=profile, tasks=tasks, seeds=seeds, backbone=backbone, data_dir=data_dir,
                              out_dir=out_dir, max_train_examples=max_train_examples,
                              max_eval_examples=max_eval_examples, max_length=max_length, protocol=protocol,
                              task_file=task_file, store_only=store_only, **extra)
    setup_plots()
    setup_runtime(params)
    reset_findings(params.out_dir, section)
    display(banner(params))
    return params


def show_text(text: str | None) -> None:
    """Display measured prose (Markdown); nothing for None or an empty text."""
    from IPython.display import Markdown, display

    if text:
        display(Markdown(text))


def plan_text(params: RunParameters, tasks: Sequence[str] | None = None, depth: int | None = None,
              splits: Sequence[Sequence[int]] | None = None, ci_splits: Sequence[Sequence[int]] | None = None,
              groupings: Sequence[str] | None = None) -> str:
    """What a section runs, in one line: backbone depth, splits, groupings, tasks and seeds (with the splits
    that run every seed when only some do)."""
    def braces(group):
        return ", ".join("{" + ", ".join(map(str, s)) + "}" for s in group)

    parts = []
    if depth is not None:
        parts.append(f"backbone depth {depth}")
    if splits is not None:
        parts.append(f"splits {braces(splits)}")
    if groupings is not None:
        parts.append(f"groupings: {', '.join(groupings)}")
    parts.append(f"tasks: {', '.join(tasks if tasks is not None else params.tasks)}")
    if ci_splits is not None and len(params.seeds) > 1:
        parts.append(f"seeds: {list(params.seeds)} for {braces(ci_splits)} and the multi-task baseline, "
                     f"seed {params.seeds[0]} for the other splits")
    else:
        parts.append(f"seeds: {list(params.seeds)}")
    return "; ".join(parts) + "."
