"""Where the harness reads and writes: the bundled parts found through importlib.resources, a broken install
named in one line (exit 2), outputs in the user's working directory and cache."""

import pytest

from voice_harness import paths
from voice_harness.errors import EnvironmentProblem
from voice_harness.tools import cli


@pytest.mark.parametrize("part", sorted(paths.BUNDLED))
def test_every_bundled_part_is_found_as_a_folder_holding_its_marker(part):
    folder = paths.bundled(part)
    assert (folder / paths.BUNDLED[part][1]).is_file()


def test_a_part_missing_from_the_install_is_an_environment_problem_saying_to_reinstall(monkeypatch):
    monkeypatch.setitem(paths.BUNDLED, "suites", ("voice_harness.suites", "test_gone.py"))
    with pytest.raises(EnvironmentProblem, match=r"suites \(voice_harness.suites/test_gone.py\) is missing .*reinstall"):
        paths.bundled("suites")


def test_a_run_of_a_broken_install_stops_with_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(paths.BUNDLED, "test_app", ("voice_harness.no_such_package", "index.html"))
    code = cli.main(["run", "--reports-dir", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "test_app" in err[0] and "reinstall" in err[0]


def test_outputs_go_to_the_working_directory_and_the_cache(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    assert paths.default_reports() == tmp_path / "reports"
    assert paths.cache_dir() == tmp_path / "cache"
    assert not paths.default_reports().is_relative_to(paths.package_root())
