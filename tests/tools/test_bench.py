"""The benchmark: its pure parts (scripted latency, per-test costs, target verdicts) and a real run of the
quick groups, which must write every figure it promises. (Figures are printed, never asserted against targets:
a timed test would flake; the bench reports met or missed instead.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_harness.errors import EnvironmentProblem
from voice_harness.tools import bench_gate
from voice_harness.tools.bench import per_test_costs, scripted_reply_latency_s, verdicts
from voice_harness.mock_upstream.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]


def test_the_scripted_reply_latency_follows_the_scenario():
    assert scripted_reply_latency_s(Scenario()) == (40 + 30 + 4 * 5) / 1000
    assert scripted_reply_latency_s(Scenario(confirm_latency_ms=0, reply_latency_ms=0, delta_interval_ms=0)) == 0


def test_per_test_costs_keep_the_first_test_apart_and_split_browser_from_wire_tests():
    phases = {"suites/a.py::first[chromium]": {"setup": 2.0, "call": 0.5, "teardown": 0.1},
              "suites/a.py::test_agent_replies_to_the_first_text_message_within_15_s[chromium]":
                  {"setup": 0.3, "call": 0.4, "teardown": 0.1},
              "suites/b.py::wire_test": {"setup": 0.01, "call": 0.2, "teardown": 0.02}}
    costs = per_test_costs(phases)
    assert costs["first_test_setup_s"] == 2.0
    assert costs["browser_setup_s"]["p50"] == 0.3 and costs["wire_setup_s"]["p50"] == 0.01
    assert costs["canary_test_s"]["p50"] == pytest.approx(0.8)


def test_each_target_is_judged_met_or_missed_and_unmeasured_ones_are_left_out():
    record = {"suite": {"wall_time": {"n2": {"wall_s": 72.0}}}, "precision": {"abs_error_ms": {"p95": 1.2}},
              "load": {"max_sustained_with_zero_errors": 200}}
    rows = {row[0]: row[3] for row in verdicts(record)}
    assert rows == {"full suite, -n 2": "MISSED", "mock delay |error| p95": "met",
                    "concurrent sessions, zero errors": "met"}
    record["suite"]["wall_time"]["n2"] = {"wall_s": 3.0, "exit": 2}  # fast because it broke: not a figure
    assert {row[0]: row[3] for row in verdicts(record)}["full suite, -n 2"] == "INVALID (run exit 2)"


def test_the_gates_figures_are_judged_against_their_targets():
    record = {"unit": {"wall_s": 25.0, "exit": 0}, "fresh_clone": {"wall_s": 95.0, "exit": 0},
              "ci": {"wall_s": 700.0, "exit": 1}}
    rows = {row[0]: row[3] for row in verdicts(record)}
    assert rows == {"unit tier (-m 'not e2e'), -n 2": "met", "set-up + make conformance, fresh clone": "MISSED",
                    "make test (CI), fresh clone": "INVALID (run exit 1)"}


def test_the_gates_figures_need_a_source_checkout(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "voice_harness"
    installed.mkdir(parents=True)
    monkeypatch.setattr(bench_gate.paths, "package_root", lambda: installed)
    with pytest.raises(EnvironmentProblem, match="source checkout"):
        bench_gate.checkout()
    monkeypatch.undo()   # where the tests run, the checkout is found
    assert (bench_gate.checkout() / "Makefile").is_file()


@pytest.mark.e2e
def test_bench_of_the_quick_groups_writes_their_figures(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "bench", "--groups", "fixed,precision,load",
                           "--reports-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["precision"]["delays"] >= 100 and record["precision"]["error_ms"]["p95"] is not None
    assert set(record["load"]["levels"]) == {"50", "100", "200"}
    for level in record["load"]["levels"].values():
        assert level["completed"] + level["errors"] == level["sessions"]
    assert all(record["fixed"][k] > 0 for k in ("mock_start_s", "proxy_start_s", "browser_launch_s"))
    assert "mock delay |error| p95" in done.stdout
    # Chromium's CPU per canary page: there is some in either way (the probe sees the browser's processes).
    assert set(record["fixed"]["page_cpu_s"]) == {"fresh_context", "kept_context"}
    assert all(value > 0 for value in record["fixed"]["page_cpu_s"].values())
    assert "Chromium CPU per test page, kept context" in done.stdout


def test_an_unknown_bench_group_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "harness", "bench", "--groups", "speed"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--groups" in done.stderr
