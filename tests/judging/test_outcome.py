"""The one judge (judging.outcome.judge): every rule that turns a test phase's facts into its outcome, and the
record that carries the outcome from a worker to the controller."""

import json

from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from voice_harness.errors import EnvironmentProblem, HarnessFault
from voice_harness.judging.checks import ConformanceFailure, Inconclusive, NotExercised
from voice_harness.judging.outcome import Expectation, PhaseFacts, PhaseRecord, judge
from voice_harness.judging.sessions import Violation
from voice_harness.judging.verdicts import CaseResult
from voice_harness.mock_upstream.scenario import ScenarioError

DEATH = "the proxy process exited with code 3 at 1.2 s after its start"


def facts(outcome="passed", exception=None, when="call", ids=("ORD-2",), **more) -> PhaseFacts:
    return PhaseFacts(when=when, ids=tuple(ids), outcome=outcome, exception=exception, **more)


def failed(exception, **more) -> PhaseFacts:
    return facts("failed", exception, **more)


# ------------------------------------------------------------------------------------------------ not a check


def test_a_test_without_ids_keeps_pytests_outcome_even_when_it_raised_and_the_proxy_died():
    out = judge(facts("failed", RuntimeError("boom"), ids=(), death=DEATH))
    assert (out.own, out.shows, out.longrepr, out.death_reported) == ("failed", None, None, False)


def test_a_test_without_ids_still_shows_failed_for_an_invariant_its_session_broke():
    out = judge(facts(ids=(), violations=(Violation("WIRE-1", "a frame that is no JSON"),)))
    assert (out.own, out.shows, dict(out.invariants)) == ("passed", "failed", {"WIRE-1": "a frame that is no JSON"})


# ------------------------------------------------------------------------------------------- the test's own ids


def test_a_passing_phase_is_left_as_pytest_made_it():
    out = judge(facts())
    assert (out.own, out.reason, out.shows, out.longrepr, out.skip_line, out.xfail, out.stops_run) == \
        ("passed", "", None, None, None, None, None)


def test_a_pytest_skip_stays_skipped():
    out = judge(facts("skipped", death=DEATH))
    assert (out.own, out.shows, out.death_reported) == ("skipped", None, False)


def test_a_fault_of_the_mock_or_a_tap_is_that_partys_error_even_when_the_test_passed():
    out = judge(facts(faults=(("harness", "the mock upstream failed: x"), ("scenario", "the cassette diverged")),
                      violations=(Violation("ORD-1", "two responses at once"),)))
    assert (out.own, out.party, out.shows) == ("error", "harness", "failed")
    assert out.reason == "the mock upstream failed: x; the cassette diverged"
    assert out.longrepr == "harness: harness error (not the proxy's failure): the mock upstream failed: x; the " \
                           "cassette diverged"
    assert dict(out.invariants) == {}   # a broken part's recording convicts the proxy of nothing


def test_a_fault_outranks_the_proxys_death():
    out = judge(failed(RuntimeError("closed"), faults=(("app", "the tap broke"),), death=DEATH))
    assert (out.own, out.party, out.death_reported) == ("error", "app", False)


def test_the_proxys_death_during_a_passing_phase_is_its_failure_with_its_last_words():
    out = judge(facts(when="teardown", death=DEATH, death_log="panic: oops"))
    assert (out.own, out.shows, out.death_reported) == ("failed", "failed", True)
    assert out.reason == out.longrepr == f"{DEATH}; its log ends: panic: oops"


def test_what_the_test_saw_after_the_proxys_death_follows_from_it():
    out = judge(failed(TimeoutError("no response.done within 5 s"), death=DEATH))
    assert (out.own, out.reason, out.death_reported) == ("failed", DEATH, True)
    assert out.longrepr == f"{DEATH}\nthe test then saw: no response.done within 5 s"


def test_a_death_already_charged_is_not_charged_again():
    out = judge(facts(death=DEATH, death_reported=True))
    assert (out.own, out.shows, out.death_reported) == ("passed", None, False)


def test_a_harness_environment_or_scenario_fault_is_not_the_proxys_death():
    for exc, party in ((HarnessFault("the mock crashed", party="harness"), "harness"),
                       (EnvironmentProblem("no browser"), "environment"),
                       (ScenarioError("bad rule"), "scenario")):
        out = judge(failed(exc, death=DEATH))
        assert (out.own, out.party, out.death_reported) == ("error", party, False)


def test_a_verdict_under_an_id_the_marker_does_not_list_is_a_harness_error():
    out = judge(failed(ConformanceFailure("ORD-3", "late"), ids=("ORD-2",)))
    assert (out.own, out.party) == ("error", "harness")
    assert "the check judged ORD-3, which the test's req marker (ORD-2) does not list" in out.reason


def test_a_check_without_an_id_judges_the_tests_one_id():
    exc = ConformanceFailure(None, "response.create before the item", "  0.1 A> response.create")
    assert str(exc).startswith("response.create before the item")   # no "None:" before the id is known
    out = judge(failed(exc))
    assert (out.own, out.req, out.reason) == ("failed", "ORD-2", "response.create before the item")
    assert out.longrepr == str(exc.named("ORD-2")) and out.longrepr.startswith("ORD-2: response.create before")
    assert exc.req is None   # the check's own exception is left as it was
    inconclusive = judge(failed(Inconclusive(None, "never asked")))
    assert (inconclusive.own, inconclusive.req, inconclusive.skip_line) == \
        ("inconclusive", "ORD-2", "INCONCLUSIVE ORD-2: never asked")
    skipped = judge(failed(NotExercised(None, "the app sent no greeting", "greeting"), ids=("GREET-1",)))
    assert skipped.skip_line == "SKIPPED GREET-1: the app sent no greeting"
    stalled = judge(failed(ConformanceFailure(None, "no reply"), stall="the cassette holds back response.done"))
    assert stalled.reason == "the cassette holds back response.done (ORD-2: no reply)"


def test_a_check_without_an_id_in_a_test_marked_with_several_is_a_harness_error_never_the_proxys_failure():
    for more in ({}, {"death": DEATH}):
        out = judge(failed(ConformanceFailure(None, "late"), ids=("WIRE-4", "MAP-10"), **more))
        assert (out.own, out.party, out.shows, out.death_reported) == ("error", "harness", "failed", False)
        assert out.reason.startswith("a check without an id in a test marked with several ids (WIRE-4, MAP-10): "
                                     "name it with req= (late")
    named = judge(failed(ConformanceFailure("MAP-10", "a raw upstream event"), ids=("WIRE-4", "MAP-10")))
    assert (named.own, named.req) == ("failed", "MAP-10")


def test_the_scenarios_declaration_meets_a_check_that_named_no_id():
    out = judge(failed(ConformanceFailure(None, "no agent text"), ids=("CANARY-1",),
                       expectation=scenario(CANARY_1="fail")))
    assert out.own == "expected" and "(CANARY-1 fail), not the proxy's: no agent text" in out.reason


def test_a_wire_connection_found_closed_leaves_the_first_id_inconclusive():
    out = judge(failed(ConnectionClosed(Close(1011, "bye"), None), ids=("LIFE-2", "LIFE-3")))
    assert (out.own, out.shows) == ("inconclusive", "skipped")
    assert out.reason == "not judged: the connection closed (code 1011 bye) before the check could finish"
    assert out.skip_line == f"INCONCLUSIVE LIFE-2: {out.reason}"
    unframed = judge(failed(ConnectionClosed(None, None)))
    assert "the connection closed (without a close frame)" in unframed.reason


def test_an_app_that_did_not_send_the_stimulus_skips_naming_it():
    out = judge(failed(NotExercised("GREET-1", "the app sent no greeting", "greeting"), ids=("GREET-1",)))
    assert (out.own, out.reason, out.shows, out.skip_line) == \
        ("skipped", "the app sent no greeting", "skipped", "SKIPPED GREET-1: the app sent no greeting")


def test_an_inconclusive_check_is_skipped_keeps_its_trace_and_names_the_invariants_that_broke():
    out = judge(failed(Inconclusive("ORD-2", "no second response was asked for")))
    assert (out.own, out.shows, out.keep_trace) == ("inconclusive", "skipped", True)
    assert out.skip_line == "INCONCLUSIVE ORD-2: no second response was asked for"
    caused = judge(failed(Inconclusive("ORD-2", "never asked"), violations=(Violation("ORD-1", "overlap"),)))
    assert caused.reason == "never asked (ORD-1 failed in this session: overlap)"


def test_a_check_failure_is_the_proxys_with_the_reason_and_slice_and_no_stack_trace():
    exc = ConformanceFailure("ORD-2", "response.create before the item", "  0.1 A> response.create")
    out = judge(failed(exc))
    assert (out.own, out.reason, out.shows, out.longrepr) == \
        ("failed", "response.create before the item", None, str(exc))


def test_a_check_failure_while_a_replay_held_back_what_the_proxy_waited_for_is_the_scenarios_error():
    out = judge(failed(ConformanceFailure("ORD-2", "no reply"), stall="the cassette holds back response.done"))
    assert (out.own, out.party) == ("error", "scenario")
    assert out.reason == "the cassette holds back response.done (ORD-2: no reply)"


def test_any_other_exception_is_attributed_and_a_machine_fault_stops_the_run():
    harness = judge(failed(KeyError("x")))
    assert (harness.own, harness.party, harness.stops_run) == ("error", "harness", None)
    assert "not the proxy's failure" in harness.longrepr
    machine = judge(failed(EnvironmentProblem("port 8080 taken"), when="setup"))
    assert (machine.own, machine.party, machine.stops_run) == ("error", "environment", "environment error")


# ----------------------------------------------------------------------------------------- the scenario's expect


def scenario(**expect) -> Expectation:
    return Expectation("close-after-first-message", {rid.replace("_", "-"): v for rid, v in expect.items()})


def test_a_failure_the_scenario_declared_is_expected_by_it_and_shown_as_xfail():
    out = judge(failed(ConformanceFailure("CANARY-1", "no agent text"), ids=("CANARY-1",),
                       expectation=scenario(CANARY_1="fail")))
    why = "expected by the scenario 'close-after-first-message' (CANARY-1 fail), not the proxy's: no agent text"
    assert (out.own, out.reason, out.party, out.shows, out.xfail, out.keep_trace) == \
        ("expected", why, "", "skipped", why, True)


def test_an_inconclusive_the_scenario_declared_is_expected_by_it():
    out = judge(failed(Inconclusive("CANARY-1", "never arose"), ids=("CANARY-1",),
                       expectation=scenario(CANARY_1="inconclusive")))
    assert (out.own, out.xfail is not None) == ("expected", True)


def test_a_declared_failure_that_did_not_happen_is_a_scenario_error():
    out = judge(facts(ids=("CANARY-1",), expectation=scenario(CANARY_1="fail")))
    assert (out.own, out.party, out.shows) == ("error", "scenario", "failed")
    assert out.reason == ("the scenario 'close-after-first-message' declares CANARY-1 fail (expect), but the test "
                          "ended passed: the upstream did not misbehave as the scenario says")


def test_a_failure_under_an_id_the_scenario_declared_nothing_for_stays_the_proxys():
    out = judge(failed(ConformanceFailure("ORD-2", "late"), ids=("CANARY-1", "ORD-2"),
                       expectation=scenario(CANARY_1="fail")))
    assert (out.own, out.xfail) == ("failed", None)


def test_the_proxys_exit_stays_the_proxys_whatever_the_scenario_declared():
    now = judge(facts(ids=("CANARY-1",), death=DEATH, expectation=scenario(CANARY_1="fail")))
    earlier = judge(failed(ConformanceFailure("CANARY-1", "x"), ids=("CANARY-1",), death_reported=True,
                           expectation=scenario(CANARY_1="fail")))
    assert (now.own, earlier.own) == ("failed", "failed")


def test_the_scenario_is_judged_on_the_tests_body_only():
    out = judge(facts(when="teardown", ids=("CANARY-1",), expectation=scenario(CANARY_1="fail")))
    assert out.own == "passed"


def test_an_error_or_a_skip_meets_no_declaration():
    out = judge(failed(KeyError("x"), ids=("CANARY-1",), expectation=scenario(CANARY_1="fail")))
    assert (out.own, out.party) == ("error", "harness")


# ------------------------------------------------------------------------------------------------- invariants


def test_an_invariant_makes_a_passing_test_show_failed_keeping_its_own_outcome():
    broken = (Violation("ORD-1", "two responses at once"), Violation("WIRE-1", "binary frame"))
    out = judge(facts(violations=broken))
    assert (out.own, out.shows, dict(out.invariants)) == \
        ("passed", "failed", {"ORD-1": "two responses at once", "WIRE-1": "binary frame"})
    assert out.longrepr == ("ORD-1 (invariant, broken in this test's session): two responses at once\n"
                            "WIRE-1 (invariant, broken in this test's session): binary frame")


def test_an_invariant_on_a_failed_test_is_recorded_and_the_failure_keeps_its_text():
    exc = ConformanceFailure("ORD-2", "late")
    out = judge(failed(exc, violations=(Violation("ORD-1", "overlap"),)))
    assert (out.own, out.longrepr, dict(out.invariants)) == ("failed", str(exc), {"ORD-1": "overlap"})


def test_an_invariant_shows_an_inconclusive_or_expected_test_failed_not_skipped():
    inconclusive = judge(failed(Inconclusive("ORD-2", "never"), violations=(Violation("ORD-1", "overlap"),)))
    assert (inconclusive.own, inconclusive.shows, inconclusive.skip_line) == ("inconclusive", "failed", None)
    expected = judge(failed(ConformanceFailure("CANARY-1", "x"), ids=("CANARY-1",), expectation=scenario(
        CANARY_1="fail"), violations=(Violation("ORD-1", "overlap"),)))
    assert (expected.own, expected.shows, expected.xfail) == ("expected", "failed", None)


# ------------------------------------------------------------------------------------------------- the record


def test_every_outcome_the_judge_gives_is_one_a_case_result_folds_in():
    outcomes = {judge(f).own for f in (facts(), facts("skipped"), failed(KeyError("x")),
                                       failed(ConformanceFailure("ORD-2", "x")), failed(Inconclusive("ORD-2", "x")),
                                       failed(ConformanceFailure("CANARY-1", "x"), ids=("CANARY-1",),
                                              expectation=scenario(CANARY_1="fail")))}
    assert outcomes == {"passed", "skipped", "error", "failed", "inconclusive", "expected"}
    for own in outcomes:
        CaseResult("t", ("ORD-2",)).merge_phase(own, "")


def test_the_record_travels_as_json_and_comes_back_the_same():
    out = judge(facts(violations=(Violation("ORD-1", "overlap"),)))
    record = PhaseRecord.of(facts(ids=("ORD-2", "ORD-1")), out, death_of=("suites/t.py::a", "exited"),
                            metrics={"ttfr_ms": 12.5}, failure_class={"phase": "response"})
    text = record.to_json()
    assert json.loads(text)["death_of"] == {"test": "suites/t.py::a", "reason": "exited"}
    assert PhaseRecord.from_json(text) == record
    assert PhaseRecord.from_dict({}) == PhaseRecord()
