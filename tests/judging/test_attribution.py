"""Who is blamed for what ended a test: pure classification, and the verdict table's `error`."""

import pytest
from playwright.sync_api import Error as PlaywrightError, TimeoutError as PlaywrightTimeout

from voice_harness.judging import attribution, catalogue
from voice_harness.errors import EnvironmentProblem, HarnessFault
from voice_harness.judging.verdicts import CaseResult, exit_status, first_error, gating, summary, verdicts
from voice_harness.mock_upstream.scenario import ScenarioError

CAT = catalogue.load()


@pytest.mark.parametrize("exc, party, words", [
    (EnvironmentProblem("the proxy was not ready within 20 s"), "environment", "not ready"),
    (ScenarioError("x.toml: reply_latency_ms must be an integer"), "scenario", "reply_latency_ms"),
    (HarnessFault("the mock upstream failed: TypeError"), "harness", "mock upstream failed"),
    (HarnessFault("the app did not show SettingsApplied", party="app"), "app", "SettingsApplied"),
    (PlaywrightError("Page.goto: net::ERR_UNSAFE_PORT at http://127.0.0.1:1/"), "environment", "ERR_UNSAFE_PORT"),
    (PlaywrightError("Target page, context or browser has been closed"), "harness", "driver went away"),
    (PlaywrightTimeout("Timeout 10000ms exceeded."), "app", "selectors"),
    (KeyError("session"), "harness", "KeyError"),
    (AssertionError("plain assert in a check"), "harness", "AssertionError"),
])
def test_what_ended_a_test_is_blamed_on_its_party_never_on_the_proxy(exc, party, words):
    blame = attribution.classify(exc)
    assert (blame.party, blame.outcome) == (party, "error")
    assert words in blame.reason


def test_a_dead_proxy_is_the_proxys_failure_naming_its_exit():
    blame = attribution.proxy_died("the proxy process exited with code 3 at 1.2 s after its start", "boom")
    assert (blame.party, blame.outcome) == ("proxy", "failed")
    assert "code 3" in blame.reason and "boom" in blame.reason


def result(nodeid, reqs, outcome="passed", reason="", party=""):
    return CaseResult(nodeid, tuple(reqs), outcome, reason, party)


def test_an_errored_test_makes_its_id_error_not_fail_and_the_run_exit_2():
    results = [result("a", ["CANARY-1"], "error", "the proxy at ws://x is unreachable", "environment"),
               result("b", ["ORD-1"])]
    table = verdicts(CAT, results)
    assert table["CANARY-1"].verdict == "error"
    assert table["CANARY-1"].reason == "environment error: the proxy at ws://x is unreachable"
    assert table["ORD-1"].verdict == "pass"
    assert summary(table)["must_error"] == 1 and summary(table)["must_failed"] == 0
    assert gating(table, strict=False)["error"] == ["CANARY-1"]
    assert exit_status(1, table, results, strict=False) == 2
    assert first_error(results).nodeid == "a"


def test_a_judged_failure_of_the_same_id_outranks_an_error_in_another_test():
    results = [result("a", ["ORD-1"], "error", "driver died", "harness"), result("b", ["ORD-1"], "failed", "early")]
    assert verdicts(CAT, results)["ORD-1"].verdict == "fail"


def test_an_error_in_teardown_outranks_the_failure_the_call_saw():
    test = result("a", ["CANARY-1"])
    test.merge_phase("failed", "the proxy closed its upstream socket 1006")
    test.merge_phase("error", "the mock upstream failed: TypeError", "harness")
    assert (test.outcome, test.party) == ("error", "harness")
