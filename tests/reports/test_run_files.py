"""A run owns its reports folder: one run at a time, and an earlier run's artefacts are cleared."""

import subprocess
import sys

import pytest

from voice_harness.reports import run_files
from voice_harness.errors import EnvironmentProblem


def test_clearing_removes_an_earlier_runs_artefacts_and_keeps_other_commands_outputs(tmp_path):
    for name in ("conformance.json", "conformance.md", "junit.xml", "metrics.json", "bench.json", "explore.json"):
        (tmp_path / name).write_text("{}")
    for folder in ("timelines", "traces", "logs", "allure-results", "sensitivity"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "old.txt").write_text("old")
    removed = run_files.clear(tmp_path)
    assert set(removed) == {"conformance.json", "conformance.md", "junit.xml", "metrics.json", "timelines",
                            "traces", "logs", "allure-results"}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == \
        ["bench.json", "explore.json", "sensitivity"]


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, pathlib; from voice_harness.reports import run_files; "
         "run_files.claim(pathlib.Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EnvironmentProblem, match=rf"in use by another run \(pid {holder.pid}, since"):
            run_files.claim(tmp_path)
    finally:
        holder.stdin.close()
        holder.wait(10)
    run_files.claim(tmp_path)   # free again once the first run ended
    run_files.claim(tmp_path)   # and a second claim by the same process is no conflict
    run_files.release(tmp_path)
