"""The sensitivity matrix, reduced to the suites that exist: each known defect turns its requirements red,
and nothing else; the reference proxy turns nothing red, also with two xdist workers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference_proxy.defects import DEFECTS

ROOT = Path(__file__).resolve().parent.parent


def run_harness(reports: Path, *args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--reports-dir", str(reports), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    path = reports / "conformance.json"
    assert path.is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return done.returncode, json.loads(path.read_text())


def verdict_ids(record: dict, verdict: str) -> set[str]:
    return {rid for rid, entry in record["requirements"].items() if entry["verdict"] == verdict}


def test_the_reference_proxy_passes_every_tested_requirement_with_two_workers(tmp_path):
    code, record = run_harness(tmp_path, "--", "-n", "2")
    assert verdict_ids(record, "fail") == set()
    assert {"CANARY-1", "READY-1", "ORD-1"} <= verdict_ids(record, "pass")
    assert code == 0


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_defect_turns_exactly_its_requirements_red(tmp_path, name):
    code, record = run_harness(tmp_path, "--defect", name)
    tested = verdict_ids(record, "pass") | verdict_ids(record, "fail")
    expected_red = set(DEFECTS[name].breaks) & tested
    assert expected_red, f"{name}: none of {DEFECTS[name].breaks} is tested yet"
    assert verdict_ids(record, "fail") == expected_red
    assert code == 1
