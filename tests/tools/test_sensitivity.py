"""The sensitivity matrix as a self-test. make test runs the reduced matrix (per defect, only the tests of its
expected and collateral requirements plus CANARY-1); `python -m harness sensitivity` runs the full one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_harness.judging import catalogue
from voice_harness.tools.sensitivity import expected_exit
from voice_harness.reference_proxy.defects import DEFECTS

ROOT = Path(__file__).resolve().parents[2]
# The reduced matrix is one long fixture (about 30 harness runs); it gets a bound of its own.
pytestmark = pytest.mark.timeout(3000)


def harness(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def verdict_ids(record: dict, verdict: str) -> set[str]:
    return {rid for rid, entry in record["requirements"].items() if entry["verdict"] == verdict}


@pytest.mark.e2e
def test_the_reference_proxy_passes_every_requirement_with_two_workers(tmp_path):
    done = harness("run", "--workers", "2", "--reports-dir", str(tmp_path))
    record = json.loads((tmp_path / "conformance.json").read_text())
    assert verdict_ids(record, "fail") == set(), done.stdout[-3000:]
    assert verdict_ids(record, "inconclusive") == set(), done.stdout[-3000:]
    assert verdict_ids(record, "untested") == set(catalogue.planned())
    assert record["gate"]["state"] == "passed", record["gate"]   # complete: what the release gate requires
    assert done.returncode == 0


@pytest.fixture(scope="module")
def reduced_matrix(tmp_path_factory) -> dict:
    reports = tmp_path_factory.mktemp("sensitivity")
    done = harness("sensitivity", "--reduced", "--reports-dir", str(reports))
    assert (reports / "sensitivity.json").is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return {"record": json.loads((reports / "sensitivity.json").read_text()), "exit": done.returncode,
            "output": done.stdout}


@pytest.mark.parametrize("name", sorted(DEFECTS))
@pytest.mark.e2e
def test_each_defect_turns_its_requirements_red_and_nothing_else_without_a_stated_reason(reduced_matrix, name):
    result = reduced_matrix["record"]["defects"][name]
    assert result["missed"] == [], f"{name} left {result['missed']} green"
    why = {rid: result.get("reasons", {}).get(rid) for rid in result["unexpected_red"]}
    assert result["unexpected_red"] == [], f"{name} turned {result['unexpected_red']} red without a stated reason: {why}"
    # A correct variant (trim-and-newline-join-parts) keeps the ids it names green: a pass, not only no red.
    assert set(DEFECTS[name].stays_green) <= set(result["green"]), (name, result.get("reasons"))
    assert result["exit"] == expected_exit(result)


@pytest.mark.e2e
def test_every_must_requirement_is_caught_by_some_defect(reduced_matrix):
    record = reduced_matrix["record"]
    assert record["must_ids_uncaught"] == []
    assert reduced_matrix["exit"] == 0, reduced_matrix["output"][-2000:]


@pytest.fixture(scope="module")
def minimal_matrix(tmp_path_factory) -> dict:
    reports = tmp_path_factory.mktemp("sensitivity-minimal")
    done = harness("sensitivity", "--reduced", "--variant", "minimal", "--reports-dir", str(reports))
    assert (reports / "sensitivity-minimal.json").is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return {"record": json.loads((reports / "sensitivity-minimal.json").read_text()), "exit": done.returncode,
            "output": done.stdout}


@pytest.mark.e2e
def test_on_the_minimal_variant_every_core_defect_is_caught_and_no_core_must_id_uncaught(minimal_matrix):
    record = minimal_matrix["record"]
    assert record["must_ids_uncaught"] == [], minimal_matrix["output"][-3000:]
    for name, result in record["defects"].items():
        assert result["missed"] == [] and result["unexpected_red"] == [], (name, result.get("reasons"))
    assert minimal_matrix["exit"] == 0, minimal_matrix["output"][-2000:]


@pytest.mark.e2e
def test_on_the_minimal_variant_ack_any_item_turns_ord_1_red(minimal_matrix):
    # The minimal proxy makes no context items: the check must provoke the defect through the core features.
    assert "ORD-1" in minimal_matrix["record"]["defects"]["ack-any-item"]["red"]


@pytest.mark.e2e
def test_on_the_minimal_variant_only_the_ignored_features_are_out_of_scope(minimal_matrix):
    baseline = minimal_matrix["record"]["baseline"]
    out = set(baseline["red"]) | set(baseline["inconclusive"])
    # The ids of the features it ignores: functions (ORD-3, ORD-6, FN-1, MAP-4, MAP-5, MAP-8's tools), greeting
    # (MAP-6), context (MAP-7, MAP-11, LIFE-3's context on reconnect).
    assert out <= {"ORD-3", "ORD-6", "FN-1", "MAP-4", "MAP-5", "MAP-6", "MAP-7", "MAP-8", "MAP-11", "LIFE-3"}, out
    assert "CANARY-1" in baseline["green"] and "ORD-1" in baseline["green"] and "ORD-7" in baseline["green"]


def test_every_defect_names_requirements_of_the_catalogue_with_reasons_for_collateral():
    known = catalogue.load()
    for defect in DEFECTS.values():
        # A defect breaks something; a correct variant (no breaks) names what it must keep green instead.
        assert bool(defect.breaks) != bool(defect.stays_green), defect.name
        assert set(defect.breaks) <= set(known) and set(defect.stays_green) <= set(known), defect.name
        assert set(defect.collateral) <= set(known), defect.name
        assert not defect.collateral or defect.collateral_reason, f"{defect.name}: collateral without a reason"


def test_the_docs_page_keeps_one_section_per_matrix(tmp_path):
    from voice_harness.tools.sensitivity import write_docs

    page = tmp_path / "sensitivity.md"
    empty = {"mode": "full", "variant": None, "defects": {}, "must_ids_caught": [], "must_ids_uncaught": [],
             "should_ids_caught": [], "should_ids_uncaught": []}
    write_docs(page, empty, reduced=False)
    write_docs(page, {**empty, "variant": "minimal", "baseline": {"red": [], "green": [], "inconclusive": []},
                      "not_applicable": ["greeting-upstream"]}, reduced=False)
    write_docs(page, {**empty, "must_ids_uncaught": ["ORD-1"]}, reduced=False)
    write_docs(page, {**empty, "mode": "reduced"}, reduced=True)
    text = page.read_text()
    assert text.count("<!-- matrix:reference -->") == 1 and text.count("<!-- matrix:minimal -->") == 1
    assert text.count("<!-- matrix:reference-reduced -->") == 1, "a reduced matrix has a section of its own"
    assert "uncaught: ORD-1" in text and "`greeting-upstream`" in text


def test_a_defect_run_with_an_error_makes_the_matrix_fail_and_shows_not_judged():
    from voice_harness.tools.sensitivity import matrix, passed, to_markdown

    defect = DEFECTS["premature-response-create"]
    clean = {"exit": 1, "red": list(defect.breaks), "green": [], "inconclusive": [], "errors": [],
             "status": "complete", "gate_passed": False, "missed": [], "unexpected_red": []}
    errored = {**clean, "exit": 2, "errors": ["LIFE-1"], "status": "environment error"}
    everything = {"must_ids_uncaught": []}   # as if every MUST id were caught elsewhere: only the rows decide
    assert passed({**everything, "defects": {defect.name: clean}})
    assert not passed({**everything, "defects": {defect.name: errored}})
    record = matrix({defect.name: errored}, "reduced")
    row = next(line for line in to_markdown(record).splitlines() if line.startswith(f"| `{defect.name}`"))
    assert "| E |" in row


def test_a_reduced_run_that_is_only_partial_is_expected_to_exit_0():
    from voice_harness.tools.sensitivity import _gate_not_stopped, expected_exit

    assert _gate_not_stopped({"state": "partial", "passed": False}) is True
    assert _gate_not_stopped({"state": "failed", "passed": False}) is False
    assert expected_exit({"gate_passed": _gate_not_stopped({"state": "partial"}), "red": []}) == 0
