"""Verdicts over repeated runs: which run a result belongs to, and ids whose verdict changed: pure."""

from voice_harness.judging import catalogue
from voice_harness.judging.repeats import base_nodeid, per_run, repeat_count, run_of, seen_in, stability, with_counts
from voice_harness.judging.verdicts import CaseResult, verdicts

CAT = catalogue.load()


def result(nodeid, reqs, outcome="passed", reason=""):
    return CaseResult(nodeid, tuple(reqs), outcome, reason)


def repeated(name, reqs, outcomes):
    return [result(f"suites/t.py::{name}[{k + 1}-{len(outcomes)}]", reqs, outcome, f"reason {k + 1}")
            for k, outcome in enumerate(outcomes)]


def test_the_repeat_index_is_read_from_the_last_parametrize_id():
    assert run_of("suites/t.py::test_x[3-10]") == (3, 10)
    assert run_of("suites/t.py::test_x[json-array-4000-2-5]") == (2, 5)
    assert run_of("suites/t.py::test_x[json-array]") is None
    assert run_of("suites/t.py::test_x") is None
    assert run_of("suites/t.py::test_x[11-10]") is None


def test_the_base_nodeid_drops_only_the_repeat_part():
    assert base_nodeid("suites/t.py::test_x[3-10]") == "suites/t.py::test_x"
    assert base_nodeid("suites/t.py::test_x[json-array-2-5]") == "suites/t.py::test_x[json-array]"
    assert base_nodeid("suites/t.py::test_x[json-array]") == "suites/t.py::test_x[json-array]"


def test_each_run_is_judged_from_its_own_results():
    results = repeated("test_a", ["ORD-1"], ["passed", "failed", "passed"]) + repeated("test_b", ["CANARY-1"],
                                                                                        ["passed"] * 3)
    assert repeat_count(results) == 3
    tables = per_run(CAT, results)
    assert [t["ORD-1"].verdict for t in tables] == ["pass", "fail", "pass"]
    record = stability(CAT, results)
    assert not record["ORD-1"].stable and record["ORD-1"].seen("fail") == 1
    assert record["ORD-1"].summary() == "pass 2, fail 1"
    assert record["CANARY-1"].stable and "WIRE-1" not in record


def test_a_failure_in_some_runs_says_how_often_and_how_to_reproduce_it():
    results = repeated("test_a", ["ORD-1"], ["passed", "failed", "failed"])
    table = verdicts(CAT, results)
    assert seen_in("ORD-1", table, results, CAT) == (
        "seen in 2 of 3 runs; reproduce with voice-harness run --repeat 3 -- 'suites/t.py::test_a'")


def test_a_failure_in_every_run_or_a_single_run_needs_no_count():
    always = repeated("test_a", ["ORD-1"], ["failed", "failed"])
    assert seen_in("ORD-1", verdicts(CAT, always), always, CAT) == ""
    once = [result("suites/t.py::test_a", ["ORD-1"], "failed", "x")]
    assert seen_in("ORD-1", verdicts(CAT, once), once, CAT) == ""


def test_the_verdict_reason_of_an_intermittent_failure_leads_with_its_count():
    results = repeated("test_a", ["ORD-1"], ["passed", "failed"]) + repeated("test_b", ["CANARY-1"],
                                                                             ["failed", "failed"])
    table = verdicts(CAT, results)
    with_counts(table, results, CAT)
    assert table["ORD-1"].reason.startswith("seen in 1 of 2 runs; reproduce with ")
    assert table["ORD-1"].reason.endswith(": reason 2")
    assert table["CANARY-1"].reason == "reason 1"
