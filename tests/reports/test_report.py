"""The conformance record and its lines: the gate's state, the partial count, verdicts a scenario declared."""

from voice_harness.judging import catalogue
from voice_harness.judging.verdicts import CaseResult, verdicts
from voice_harness.reports.report import area_status, gate_line, gate_notes, terminal_table, to_json, to_markdown

CAT = catalogue.load()
CHECKED = [rid for rid, req in CAT.items() if not req.planned]
PLANNED = [rid for rid, req in CAT.items() if req.planned]
RUN = {"profile": "reference", "scenario": "close-after-first-message", "defect": None}


def record(results, strict=False):
    return to_json(verdicts(CAT, results), CAT, RUN, strict)


def every_id_but(*left_out, outcome="passed"):
    return [CaseResult(f"t-{rid}", (rid,), outcome) for rid in CHECKED if rid not in left_out]


def test_a_complete_run_passes_and_names_the_ids_this_version_does_not_check():
    written = record(every_id_but())
    assert gate_line(written) == "gate: passed"
    assert written["gate"]["state"] == "passed" and written["gate"]["passed"] is True
    assert (written["gate"]["judged"], written["gate"]["total"]) == (len(CHECKED), len(CHECKED))
    assert gate_notes(written) == ([f"not checked by this version: {', '.join(PLANNED)}"] if PLANNED else [])


def test_a_narrowed_run_is_partial_in_every_output_and_its_gate_object_says_so():
    written = record([CaseResult("a", ("CANARY-1",))])
    line = f"gate: partial (1 of {len(CHECKED)} ids judged): not a release verdict"
    assert gate_line(written) == line
    assert written["gate"]["passed"] is False and written["gate"]["state"] == "partial"
    assert len(written["gate"]["left_out"]) == len(CHECKED) - 1
    assert line in terminal_table(written) and f"{line}." in to_markdown(written)


def test_a_failed_gate_says_also_that_the_run_was_partial():
    written = record([CaseResult("a", ("ORD-1",), "failed", "too early")])
    assert gate_line(written) == f"gate: FAILED; failed: ORD-1; partial (1 of {len(CHECKED)} ids judged)"
    assert written["gate"]["state"] == "failed"


def test_a_verdict_the_scenario_declared_is_shown_as_its_own_everywhere():
    expected = CaseResult("c", ("CANARY-1",), "expected",
                          "expected by the scenario 'close-after-first-message' (CANARY-1 fail), not the proxy's: x")
    written = record(every_id_but("CANARY-1") + [expected])
    assert written["requirements"]["CANARY-1"]["verdict"] == "expected"
    assert written["gate"]["state"] == "partial" and written["gate"]["expected_by_scenario"] == ["CANARY-1"]
    note = "expected by the scenario (close-after-first-message), not the proxy's verdict: CANARY-1"
    assert note in gate_notes(written) and note in terminal_table(written)
    markdown = to_markdown(written)
    assert "| CANARY-1 | MUST | EXPECTED |" in markdown and "expected by the scenario: 1" in markdown
    canary = next(line for line in area_status(written) if line.startswith("canary"))
    assert "expected by the scenario: CANARY-1" in canary and "FAIL" not in canary


def test_ids_the_app_could_not_exercise_are_listed_with_the_capability_it_lacks():
    from voice_harness.judging.checks import NotExercised, not_exercised

    try:
        not_exercised("context", "the app sent no context", req="MAP-7")
    except NotExercised as exc:
        reason = exc.reason
    results = every_id_but("MAP-7") + [CaseResult("t-MAP-7", ("MAP-7",), "skipped", reason)]
    written = record(results)
    assert written["gate"]["not_exercised"] == {"MAP-7": "context"}
    assert written["gate"]["state"] == "partial"
    assert "not exercised for want of an app capability (see app-check): MAP-7 (context)" in gate_notes(written)
    assert written["run"]["catalogue_version"] == catalogue.CATALOGUE_VERSION == 3


def test_a_failure_whose_connections_stayed_open_shows_no_close_code_in_the_markdown():
    written = record([CaseResult("a", ("ORD-1",), "failed", "too early")])
    written["failures"] = [{"test": "t-open", "requirements": ["ORD-1"], "phase": "awaiting reply", "close_code": None,
                            "closed_first": "no connection closed"},
                           {"test": "t-closed", "requirements": ["CANARY-1"], "phase": "awaiting reply",
                            "close_code": 1000, "closed_first": "upstream closed"}]
    markdown = to_markdown(written)
    assert "| t-open | ORD-1 | awaiting reply | - | no connection closed |" in markdown
    assert "| t-closed | CANARY-1 | awaiting reply | 1000 | upstream closed |" in markdown
    assert "None" not in markdown
