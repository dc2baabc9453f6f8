"""The gate says when a run is partial (not a release verdict), and a verdict a scenario declared is reported as
the scenario's, not the proxy's: in the terminal, conformance.md and conformance.json."""

import json

import pytest

from support import harness_run
from voice_harness.judging import catalogue

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")]

CHECKED = len([req for req in catalogue.load().values() if not req.planned])


@pytest.fixture
def run(pytester):
    pytester.makeconftest('pytest_plugins = ["voice_harness.plugin"]')

    def run(body, *args):
        pytester.makepyfile(test_sample=body)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--reports-dir", str(pytester.path / "out"),
                                             *args)
    return run


def written(pytester) -> tuple[dict, str]:
    out = pytester.path / "out"
    return json.loads((out / "conformance.json").read_text()), (out / "conformance.md").read_text()


ONE_ID = 'import pytest\n@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n'


def test_a_narrowed_run_is_partial_everywhere_and_fails_only_when_completeness_is_required(run, pytester):
    result = run(ONE_ID)
    assert result.ret == 0   # the run's own exit code is unchanged
    line = f"gate: partial (1 of {CHECKED} ids judged): not a release verdict"
    result.stdout.fnmatch_lines([line])
    result.stdout.no_fnmatch_line("gate: passed*")
    record, markdown = written(pytester)
    gate = record["gate"]
    assert (gate["state"], gate["passed"], gate["judged"], gate["total"]) == ("partial", False, 1, CHECKED)
    assert "ORD-1" in gate["left_out"] and "CANARY-1" not in gate["left_out"]
    planned = [rid for rid, req in catalogue.load().items() if req.planned]
    assert gate["not_checked"] == planned and not set(planned) & set(gate["left_out"])
    assert line + "." in markdown
    if planned:
        assert f"not checked by this version: {', '.join(planned)}" in markdown
    required = run(ONE_ID, "--require-complete")
    assert required.ret == 1
    required.stdout.fnmatch_lines([line, "*--require-complete: a partial run is no release verdict (exit 1)"])


SCENARIO_SAYS_FAIL = '''import os
import pytest
from voice_harness.judging.checks import fail

@pytest.mark.req("CANARY-1")
@pytest.mark.scenario(expect={"CANARY-1": "fail"})
def test_canary():
    if not os.environ.get("SAMPLE_CANARY_PASSES"):
        fail("upstream closed 1000 at 2.7 s; no agent reply")
'''


def test_a_failure_the_scenario_declared_is_expected_by_it_and_does_not_fail_the_gate(run, pytester):
    result = run(SCENARIO_SAYS_FAIL)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["CANARY-1*EXPECTED*expected by the scenario*",
                                 "gate: partial (0 of * ids judged): not a release verdict",
                                 "expected by the scenario*not the proxy's verdict: CANARY-1", "*1 xfailed*"])
    record, markdown = written(pytester)
    entry = record["requirements"]["CANARY-1"]
    assert entry["verdict"] == "expected" and "not the proxy's: upstream closed 1000" in entry["reason"]
    assert record["gate"]["expected_by_scenario"] == ["CANARY-1"] and record["gate"]["failed"] == []
    assert record["summary"]["must_failed"] == 0 and record["summary"]["must_expected"] == 1
    assert "| CANARY-1 | MUST | EXPECTED |" in markdown


def test_a_scenario_whose_declared_failure_does_not_happen_is_a_scenario_error(run, pytester, monkeypatch):
    # The same scenario, and a canary that passes under it: the scenario does not do what it says.
    monkeypatch.setenv("SAMPLE_CANARY_PASSES", "1")
    result = run(SCENARIO_SAYS_FAIL)
    assert result.ret == 2
    record, _ = written(pytester)
    assert record["run"]["error"]["party"] == "scenario"
    assert "declares CANARY-1 fail" in record["run"]["error"]["reason"]
    assert record["requirements"]["CANARY-1"]["verdict"] == "error"


def test_close_after_first_message_fails_the_canary_as_the_scenario_declares_not_as_the_proxys_failure(tmp_path):
    done, record = harness_run(tmp_path, "--scenario", "close-after-first-message", "--workers", "1",
                               "--", "--req", "CANARY-1")
    assert done.returncode == 0, done.stdout[-3000:]
    assert record["CANARY-1"]["verdict"] == "expected", record["CANARY-1"]
    assert "close-after-first-message" in record["CANARY-1"]["reason"]
    assert "expected by the scenario (close-after-first-message), not the proxy's verdict: CANARY-1" in done.stdout
    assert "gate: partial (0 of" in done.stdout and "gate: passed" not in done.stdout
