"""The harness's options are declared once (harness/options.py): the plugin and `harness run` offer the same
ones, and the CLI hands them to pytest unchanged."""

import argparse

from voice_harness import options


def cli_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    options.add_to_cli(parser, {"reports_dir": "/tmp/reports"})
    return parser


def test_what_the_cli_is_given_reaches_pytest_under_the_plugins_names():
    given = cli_parser().parse_args(["--defect", "ack-any-item", "--strict", "--proxy-cmd", "x {port}",
                                     "--upstream", "mock", "--timelines", "all", "--variant", "minimal"])
    assert options.to_pytest(given, skip=("--reports-dir",)) == ["--defect=ack-any-item", "--variant=minimal", "--harness-strict",
                                        "--proxy-cmd=x {port}", "--upstream=mock", "--timelines=all"]


def test_defaults_are_not_passed_and_the_cli_spells_only_strict_differently():
    assert options.to_pytest(cli_parser().parse_args([]), skip=("--reports-dir",)) == []
    spellings = {o.name: o.cli for o in options.OPTIONS if o.cli}
    assert spellings == {"--harness-strict": "--strict"}
    assert [o.name for o in options.OPTIONS if o.cli is None] == ["--req", "--harness-trace"]
