"""Verdicts and the gate, from test outcomes: pure."""

import dataclasses

from voice_harness.judging import catalogue
from voice_harness.judging.verdicts import (CaseResult, coverage, exit_status, gate_state, gating, scenario_expectation,
                                          summary, verdicts)

CAT = catalogue.load()


def result(nodeid, reqs, outcome="passed", reason=""):
    return CaseResult(nodeid, tuple(reqs), outcome, reason)


def test_every_catalogue_id_gets_a_verdict_and_unrun_ones_are_untested():
    table = verdicts(CAT, [result("t1", ["CANARY-1"])])
    assert set(table) == set(CAT)
    assert table["CANARY-1"].verdict == "pass" and table["ORD-1"].verdict == "untested"


def test_one_failing_test_fails_its_requirement_with_the_first_reason():
    table = verdicts(CAT, [result("a", ["ORD-1"]), result("b", ["ORD-1"], "failed", "too early"),
                           result("c", ["ORD-1"], "failed", "later")])
    assert (table["ORD-1"].verdict, table["ORD-1"].reason, table["ORD-1"].tests) == ("fail", "too early", ["a", "b", "c"])


def test_a_failed_phase_after_a_passed_call_fails_the_test():
    test = result("a", ["ORD-1"])
    test.merge_phase("passed", "")
    test.merge_phase("failed", "teardown: mock self-check")
    assert test.outcome == "failed" and test.reason == "teardown: mock self-check"


def test_should_failures_gate_only_when_strict():
    results = [result("a", ["READY-4"], "failed", "x"), result("b", ["CANARY-1"])]
    table = verdicts(CAT, results)
    assert exit_status(1, table, results, strict=False) == 0
    assert exit_status(1, table, results, strict=True) == 1


def test_a_failure_outside_the_catalogue_fails_the_run():
    results = [result("self-test", [], "failed", "x"), result("b", ["CANARY-1"])]
    assert exit_status(1, verdicts(CAT, results), results, strict=False) == 1


def test_the_catalogue_has_exactly_the_ids_of_the_protocol_document():
    import re
    from pathlib import Path

    import pytest

    protocol = Path(__file__).resolve().parents[3] / "shared" / "PROTOCOL.md"
    if not protocol.is_file():
        pytest.skip("../shared/PROTOCOL.md is not beside this checkout")
    ids = re.findall(r"^\| ([A-Z]+-\d+) \| (MUST|SHOULD) \|", protocol.read_text(), re.M)
    assert [(rid, CAT[rid].level) for rid, _ in ids if rid in CAT] == ids
    assert [rid for rid, _ in ids] == list(CAT)


def test_an_id_whose_tests_were_all_inconclusive_is_inconclusive_and_a_must_one_stops_the_gate():
    results = [result("a", ["ORD-1"], "inconclusive", "inconclusive: the check needs a competing confirmation"),
               result("b", ["CANARY-1"])]
    table = verdicts(CAT, results)
    assert table["ORD-1"].verdict == "inconclusive" and "competing" in table["ORD-1"].reason
    assert exit_status(0, table, results, strict=False) == 1


def test_one_provoking_test_makes_an_id_pass_beside_inconclusive_ones():
    results = [result("a", ["ORD-1"], "inconclusive", "never provoked"), result("b", ["ORD-1"])]
    table = verdicts(CAT, results)
    assert table["ORD-1"].verdict == "pass"
    assert exit_status(0, table, results, strict=False) == 0


def test_a_should_id_only_inconclusive_gates_only_when_strict():
    results = [result("a", ["MAP-7"], "inconclusive", "no context"), result("b", ["CANARY-1"])]
    table = verdicts(CAT, results)
    assert exit_status(0, table, results, strict=False) == 0
    assert exit_status(0, table, results, strict=True) == 1


def test_an_invariant_broken_in_another_tests_session_fails_that_invariant_not_the_tests_own_id():
    test = result("tests::test_echo", ["MAP-2"])
    test.found("ORD-4", "B-> response.create while response r1 was still active")
    table = verdicts(CAT, [test, result("tests::test_one_at_a_time", ["ORD-4"])])
    assert table["MAP-2"].verdict == "pass"
    assert table["ORD-4"].verdict == "fail"
    assert "tests::test_echo" in table["ORD-4"].reason and table["ORD-4"].exposed_by == ["tests::test_echo"]


def test_inconclusive_outranks_a_pass_and_a_failure_outranks_both_across_phases():
    test = result("a", ["ORD-1"])
    test.merge_phase("inconclusive", "not judged: no reply")
    test.merge_phase("passed", "")
    assert test.outcome == "inconclusive"
    test.merge_phase("failed", "teardown")
    assert test.outcome == "failed"


def test_a_planned_id_is_untested_with_the_reason_it_has_no_test():
    planned = {**CAT, "CANARY-2": dataclasses.replace(CAT["CANARY-2"], planned="needs a microphone")}
    table = verdicts(planned, [result("a", ["CANARY-1"])])
    assert table["CANARY-2"].verdict == "untested" and table["CANARY-2"].reason == "planned: needs a microphone"


# ---- the partial gate: a run that did not judge every id this version checks is no release verdict

def every_checked_id(outcome="passed", but=()):
    """One test per id the harness checks (the catalogue less its planned ids), each with `outcome`."""
    return [result(f"t-{rid}", [rid], outcome) for rid, req in CAT.items() if not req.planned and rid not in but]


def test_a_run_that_judged_every_checked_id_passes_the_gate_and_planned_ids_do_not_make_it_partial():
    table = verdicts(CAT, every_checked_id())
    covered = coverage(table)
    assert covered["judged"] == covered["total"] == len([r for r in CAT.values() if not r.planned])
    assert covered["left_out"] == [] and covered["not_checked"] == [rid for rid, r in CAT.items() if r.planned]
    assert gate_state(table, strict=False) == "passed"


def test_a_narrowed_run_is_partial_its_exit_stays_0_and_fails_only_when_completeness_is_required():
    results = [result("a", ["CANARY-1"]), result("b", ["ORD-1"])]
    table = verdicts(CAT, results)
    assert gate_state(table, strict=False) == "partial"
    assert coverage(table)["judged"] == 2 and "MAP-1" in coverage(table)["left_out"]
    assert exit_status(0, table, results, strict=False) == 0
    assert exit_status(0, table, results, strict=False, require_complete=True) == 1


def test_a_skipped_must_id_is_not_judged_so_the_run_is_partial():
    results = every_checked_id(but=("LIFE-2",)) + [result("x", ["LIFE-2"], "skipped", "the app has no disconnect")]
    table = verdicts(CAT, results)
    assert table["LIFE-2"].verdict == "skip"
    assert gate_state(table, strict=False) == "partial" and coverage(table)["left_out"] == ["LIFE-2"]


def test_an_inconclusive_should_id_counts_as_judged_and_a_failure_makes_the_gate_failed_not_partial():
    results = every_checked_id(but=("MAP-7",)) + [result("x", ["MAP-7"], "inconclusive", "no context")]
    table = verdicts(CAT, results)
    assert gate_state(table, strict=False) == "passed" and gate_state(table, strict=True) == "failed"
    narrowed = verdicts(CAT, [result("a", ["ORD-1"], "failed", "too early")])
    assert gate_state(narrowed, strict=False) == "failed"


# ---- verdicts a scenario declared (`expect`): the scenario's, not the proxy's

def test_a_declared_failure_is_met_by_a_failure_under_that_id_and_broken_by_a_pass():
    expect = {"CANARY-1": "fail"}
    assert scenario_expectation(expect, ["CANARY-1"], "failed", "CANARY-1") == ("CANARY-1", "fail", True)
    assert scenario_expectation(expect, ["CANARY-1"], "passed") == ("CANARY-1", "fail", False)
    assert scenario_expectation(expect, ["CANARY-1"], "inconclusive", "CANARY-1") == ("CANARY-1", "fail", False)


def test_no_declaration_applies_to_other_ids_skips_errors_or_a_failure_that_is_no_checks_verdict():
    expect = {"CANARY-1": "fail"}
    assert scenario_expectation(expect, ["ORD-1"], "failed", "ORD-1") is None
    assert scenario_expectation(expect, ["CANARY-1"], "skipped") is None
    assert scenario_expectation(expect, ["CANARY-1"], "error") is None
    assert scenario_expectation(expect, ["CANARY-1"], "failed", None) is None        # the proxy's exit, say
    assert scenario_expectation({}, ["CANARY-1"], "failed", "CANARY-1") is None


def test_an_expected_verdict_does_not_fail_the_gate_but_leaves_the_run_partial():
    results = every_checked_id(but=("CANARY-1",)) + [
        result("c", ["CANARY-1"], "expected", "expected by the scenario 'x' (CANARY-1 fail), not the proxy's: closed")]
    table = verdicts(CAT, results)
    assert table["CANARY-1"].verdict == "expected" and "not the proxy's" in table["CANARY-1"].reason
    assert gating(table, strict=True) == {"fail": [], "error": [], "inconclusive": []}
    assert gate_state(table, strict=False) == "partial" and exit_status(0, table, results, strict=False) == 0
    assert summary(table)["must_expected"] == 1 and summary(table)["must_failed"] == 0


def test_a_failure_beside_an_expected_verdict_stays_the_proxys():
    table = verdicts(CAT, [result("c", ["CANARY-1"], "expected", "x"), result("d", ["CANARY-1"], "failed", "no")])
    assert table["CANARY-1"].verdict == "fail"
    test = result("e", ["CANARY-1"])
    test.merge_phase("expected", "x")
    test.merge_phase("failed", "the proxy exited")
    assert test.outcome == "failed"
