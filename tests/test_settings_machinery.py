"""Every run setting is declared once, on RunConfig: the command line's options are generated from its fields,
and a notebook's parameters are overrides of a profile checked by the profile's own checks (issue 14)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hmnet import report
from hmnet.cli import build_parser, main as cli_main
from hmnet.cli.train import config_from_args
from hmnet.experiments import ConfigError, RunConfig
from hmnet.profiles import SETTINGS, check_profile_field, get_profile
from hmnet.sections.groupings import named_groupings
from hmnet.sections import table1
from hmnet.sections.table1 import plan_runs as table1_plan

REPO = Path(__file__).resolve().parents[1]


def _parse(*argv):
    return config_from_args(build_parser().parse_args(["train", *argv]))


def test_every_setting_has_one_generated_option_with_its_help():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # noqa: SLF001 - argparse keeps them there
    options = {a.dest: a for a in train._actions}  # noqa: SLF001
    for f in dataclasses.fields(RunConfig):
        if f.name in SETTINGS:
            assert f.metadata.get("help"), f"RunConfig.{f.name} has no help text"
            assert f.name in options and options[f.name].option_strings[0] == "--" + f.name.replace("_", "-")
            assert f.metadata["help"] in options[f.name].help


def test_generated_options_parse_types_none_flags_and_choices(capsys):
    config = _parse("--tasks", "RTE", "--max-length", "32", "--max-examples", "none", "--lr", "1e-3",
                    "--group-by-length", "--attn-implementation", "sdpa", "--dropout", "0.2")
    assert (config.max_length, config.max_examples, config.lr, config.group_by_length) == (32, None, 1e-3, True)
    assert config.attn_implementation == "sdpa" and config.dropout == 0.2
    # an option and --set reach the same config (the option wins where both are given)
    assert _parse("--max-length", "48").key() == _parse("--set", "max_length=48").key()
    assert _parse("--set", "max_length=16", "--max-length", "48").max_length == 48
    assert _parse("--no-group-by-length", "--profile", "smoke").group_by_length is False
    for argv, message in [(["--max-length", "x"], "--max-length expects an integer, got 'x'"),
                          (["--sampling", "nope"], "invalid choice: 'nope'"),
                          (["--lr", "fast"], "--lr expects a number")]:
        with pytest.raises(SystemExit) as exit_:
            cli_main(["train", *argv])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    # a whole config and a setting option: refused rather than silently ignored
    config_json = get_profile("smoke", tasks=("RTE",)).run_config("single").to_json()
    assert cli_main(["train", "--config-json", config_json, "--max-length", "32"]) == 2
    assert "--config-json is the whole run config; --max-length would be ignored" in capsys.readouterr().err
    # a value of the right type that the field's check refuses: the run config's own message
    assert cli_main(["train", "--max-length", "2"]) == 2
    assert "max_length must be >= 4, got 2" in capsys.readouterr().err


def test_profile_fields_are_checked_by_the_run_configs_checks():
    assert check_profile_field("max_examples", 10) == 10 and check_profile_field("seeds", 3) == (3,)
    with pytest.raises(ConfigError, match="max_length must be >= 4"):
        check_profile_field("max_length", 1)
    with pytest.raises(ConfigError, match="'speed' is not a profile field"):
        check_profile_field("speed", 1)


def test_notebook_parameters_make_the_profile_the_command_line_uses(tmp_path, capsys):
    """A smoke notebook and `hmnet plan --profile smoke` plan the same runs: same caps, same seeds, same keys."""
    params = report.check_parameters(profile="smoke", tasks=["RTE", "CB"], out_dir=tmp_path)
    assert params.run_profile == get_profile("smoke", tasks=("RTE", "CB"))
    assert params.max_train_examples == get_profile("smoke").max_examples and params.seeds == get_profile("smoke").seeds
    groupings = named_groupings(["manual"], ("RTE", "CB"))
    notebook = table1.configs(params, {k: list(g.values()) for k, g in groupings.items()}, params.seeds)
    assert cli_main(["plan", "export", "table1", "--format", "json", "--set", 'tasks=["RTE","CB"]']) == 0
    cli = [RunConfig.from_json(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [c.key() for c in table1_plan(get_profile("smoke", tasks=("RTE", "CB")), groupings)] == \
        [c.key() for c in cli]
    # The baselines are the same runs; HMNet's clusters hold the same tasks (the notebook numbers its clusters,
    # the command line names them after the manual categories, and the names are part of the key).
    assert [c.key() for c in notebook if c.method != "hmnet"] == [c.key() for c in cli if c.method != "hmnet"]
    assert [sorted(c.clusters.values()) for c in notebook if c.method == "hmnet"] == \
        [sorted(c.clusters.values()) for c in cli if c.method == "hmnet"]
    assert len(notebook) == len(cli) == 2 * (2 + 1 + 1 + 1)


def test_notebook_parameters_fail_naming_the_parameter_with_the_fields_check(tmp_path):
    with pytest.raises(report.ParameterError, match="parameter 'max_eval_examples': max_eval_examples must be >= 1"):
        report.check_parameters(max_eval_examples=0, out_dir=tmp_path)
    with pytest.raises(report.ParameterError, match="parameter 'backbone': backbone must be a name"):
        report.check_parameters(backbone="", out_dir=tmp_path)
    with pytest.raises(report.ParameterError, match="parameter 'max_length': max_length must be >= "):
        report.check_parameters(max_length=0, out_dir=tmp_path)
    assert report.NOTEBOOK_FIELDS["max_train_examples"] == "max_examples"
    assert set(report.NOTEBOOK_FIELDS.values()) <= {*SETTINGS, "tasks", "seeds"}


def test_max_length_parameter_sets_the_profile_and_shows_in_the_banner(tmp_path):
    params = report.check_parameters(max_length=256, out_dir=tmp_path)
    assert params.max_length == params.run_profile.max_length == 256
    assert "max_length=256" in report.banner_text(params)
    assert report.check_parameters(out_dir=tmp_path).max_length == get_profile("smoke").max_length


def test_every_notebook_declares_the_profile_parameters():
    """Each notebook's parameters cell sets every parameter of NOTEBOOK_FIELDS (papermill passes them by name)."""
    notebooks = sorted(REPO.glob("notebooks/0*.ipynb"))
    assert len(notebooks) == 7
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
        declared = {line.split("=")[0].strip() for line in "".join(params["source"]).splitlines() if "=" in line}
        assert set(report.NOTEBOOK_FIELDS) <= declared, (path.name, set(report.NOTEBOOK_FIELDS) - declared)
