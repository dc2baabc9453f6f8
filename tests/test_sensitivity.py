"""The sensitivity matrix as a self-test. make test runs the reduced matrix (per defect, only the tests of its
expected and collateral requirements plus CANARY-1); `python -m harness sensitivity` runs the full one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import catalogue
from harness.sensitivity import expected_exit
from reference_proxy.defects import DEFECTS

ROOT = Path(__file__).resolve().parent.parent
# The reduced matrix is one long fixture (about 30 harness runs); it gets a bound of its own.
pytestmark = pytest.mark.timeout(3000)


def harness(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def verdict_ids(record: dict, verdict: str) -> set[str]:
    return {rid for rid, entry in record["requirements"].items() if entry["verdict"] == verdict}


def test_the_reference_proxy_passes_every_requirement_with_two_workers(tmp_path):
    done = harness("run", "--workers", "2", "--reports-dir", str(tmp_path))
    record = json.loads((tmp_path / "conformance.json").read_text())
    assert verdict_ids(record, "fail") == set(), done.stdout[-3000:]
    assert verdict_ids(record, "untested") == set()
    assert done.returncode == 0


@pytest.fixture(scope="module")
def reduced_matrix(tmp_path_factory) -> dict:
    reports = tmp_path_factory.mktemp("sensitivity")
    done = harness("sensitivity", "--reduced", "--reports-dir", str(reports))
    assert (reports / "sensitivity.json").is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return {"record": json.loads((reports / "sensitivity.json").read_text()), "exit": done.returncode,
            "output": done.stdout}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_defect_turns_its_requirements_red_and_nothing_else_without_a_stated_reason(reduced_matrix, name):
    result = reduced_matrix["record"]["defects"][name]
    assert result["missed"] == [], f"{name} left {result['missed']} green"
    why = {rid: result.get("reasons", {}).get(rid) for rid in result["unexpected_red"]}
    assert result["unexpected_red"] == [], f"{name} turned {result['unexpected_red']} red without a stated reason: {why}"
    assert result["exit"] == expected_exit(result)


def test_every_must_requirement_is_caught_by_some_defect(reduced_matrix):
    record = reduced_matrix["record"]
    assert record["must_ids_uncaught"] == []
    assert reduced_matrix["exit"] == 0, reduced_matrix["output"][-2000:]


def test_every_defect_names_requirements_of_the_catalogue_with_reasons_for_collateral():
    known = catalogue.load()
    for defect in DEFECTS.values():
        assert defect.breaks and set(defect.breaks) <= set(known), defect.name
        assert set(defect.collateral) <= set(known), defect.name
        assert not defect.collateral or defect.collateral_reason, f"{defect.name}: collateral without a reason"
