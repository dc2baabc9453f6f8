"""The run configuration is built from one options object (run_config.Options), read by name from the harness's
declared options, whether pytest's (the plugin) or the CLI's (`harness run`)."""

import argparse
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from voice_harness import options
from voice_harness.errors import UsageProblem
from voice_harness.targets import run_config

FIELDS = {f.name: f for f in dataclasses.fields(run_config.Options)}
DECLARED = {option.dest: option for option in options.OPTIONS}


def test_every_choice_is_a_declared_option_with_the_same_default():
    assert set(FIELDS) <= set(DECLARED)
    for name, field in FIELDS.items():
        if name != "reports_dir":   # declared without one: the plugin and the CLI each say where
            declared = DECLARED[name]
            assert field.default == (False if declared.flag else declared.default), name


def test_the_clis_arguments_give_the_same_choices_as_pytests_options(tmp_path):
    parser = argparse.ArgumentParser()
    options.add_to_cli(parser, {"reports_dir": str(tmp_path)})
    args = parser.parse_args(["--profile", "url", "--defect", "double-session-update", "--strict",
                              "--replay-speed", "2", "--app-url", "http://127.0.0.1:1/"])
    given = {"--profile": "url", "--defect": "double-session-update", "--harness-strict": True, "--replay-speed": "2",
             "--app-url": "http://127.0.0.1:1/", "--reports-dir": str(tmp_path)}
    config = SimpleNamespace(getoption=lambda name: given.get(name, next(o.default for o in options.OPTIONS
                                                                         if o.name == name)),
                             invocation_params=SimpleNamespace(dir=Path("/elsewhere")))
    from_cli, from_pytest = run_config.Options.from_args(args), run_config.Options.from_pytest(config)
    assert from_cli == from_pytest
    assert (from_cli.profile, from_cli.defect, from_cli.harness_strict, from_cli.reports_dir, from_cli.scenario) == \
        ("url", "double-session-update", True, tmp_path, None)


def test_pytests_reports_go_to_the_calling_folder_unless_given():
    config = SimpleNamespace(getoption=lambda name: next(o.default for o in options.OPTIONS if o.name == name),
                             invocation_params=SimpleNamespace(dir=Path("/work/here")))
    assert run_config.Options.from_pytest(config).reports_dir == Path("/work/here/reports")
    assert run_config.Options.from_pytest(config, reports_dir="/r").reports_dir == Path("/r")


def test_build_resolves_the_choices_and_refuses_a_bad_one(tmp_path):
    choices = run_config.Options(defect="double-session-update", harness_strict=True, reports_dir=tmp_path)
    config = run_config.build(choices)
    assert (config.profile.name, config.defect, config.strict, config.reports_dir, config.scenario.name) == \
        ("reference", "double-session-update", True, tmp_path, "default")
    with pytest.raises(UsageProblem, match="unknown defect 'nope'"):
        run_config.build(run_config.Options(defect="nope"))
    with pytest.raises(UsageProblem, match="--replay-speed applies to --upstream replay:PATH only"):
        run_config.build(run_config.Options(replay_speed="2"))
