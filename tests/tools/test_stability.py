"""harness stability: the same verdict in every run, counted per id; the busy loops end with it."""

import json
import subprocess
import sys
import time

import pytest

from support import ROOT
from voice_harness.targets.run_config import available_cpus
from voice_harness.tools import stability
from voice_harness.tools.stability import busy_cores, line, summarise, targets


def record(ids):
    return {"repeats": {"runs": 3, "ids": {rid: {"verdicts": v, "stable": len(set(v)) == 1} for rid, v in ids.items()}}}


def test_an_id_whose_verdict_changed_is_counted_with_how_often_each_verdict_came():
    entry = summarise(record({"ORD-1": ["pass", "fail", "fail"], "CANARY-1": ["pass"] * 3}))
    assert (entry["ids"], entry["stable"]) == (2, 1)
    assert entry["unstable"] == {"ORD-1": "fail 2, pass 1"} and entry["verdicts"] == {"CANARY-1": "pass"}
    assert "changed: ORD-1: fail 2, pass 1" in line("reference", {**entry, "seconds": 1.0})


def test_the_reference_proxy_comes_first_and_an_unknown_defect_is_refused():
    assert targets([]) == [None]
    chosen = targets(["premature-response-create"])
    assert chosen[0] is None and chosen[1].name == "premature-response-create"
    with pytest.raises(ValueError, match="unknown defect 'nope'"):
        targets(["nope"])
    assert [d.name for d in targets(["premature-response-create"], reference=False)] == ["premature-response-create"]
    assert None not in targets(["all"], reference=False) and len(targets(["all"])) > 10
    with pytest.raises(ValueError, match="needs a --defect"):
        targets([], reference=False)


def test_the_busy_loops_run_inside_the_block_and_are_gone_after_it():
    with busy_cores(True, bound_s=60) as loops:
        assert len(loops) == available_cpus()
        assert all("zombie" not in _state(pid) for pid in loops)
    deadline = time.monotonic() + 5
    while any("zombie" not in _state(pid) for pid in loops):   # killed (a zombie until reaped, or gone)
        assert time.monotonic() < deadline, "a busy loop outlived its block"
        time.sleep(0.05)


@pytest.mark.e2e
def test_a_repeated_canary_keeps_its_verdict_on_the_reference_proxy_and_under_its_defect(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "stability", "--repeat", "2", "--reports-dir",
                           str(tmp_path), "--defect", "premature-response-create", "--",
                           "-k", "first_text_message"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = json.loads((tmp_path / "stability.json").read_text())["targets"]
    assert found["reference"]["verdicts"]["CANARY-1"] == "pass"
    assert found["premature-response-create"]["verdicts"]["CANARY-1"] == "fail"
    assert "1/1 ids the same in 2 of 2 runs" in done.stdout


def test_a_run_past_its_time_is_stopped_with_everything_it_started(monkeypatch):
    monkeypatch.setattr(stability, "RUN_TIMEOUT_S", 1)
    monkeypatch.setattr(stability, "GRACE_S", 1)   # it ignores SIGINT: killed after the grace
    # A "run" that ignores SIGINT and leaves a grandchild behind in its group.
    script = ("import signal, subprocess, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              "print(child.pid, flush=True); time.sleep(120)")
    code, output = stability.harness_run([sys.executable, "-c", script])
    assert code == -1 and "was stopped" in output
    grandchild = int(output.split()[0])
    deadline = time.monotonic() + 5
    while "zombie" not in _state(grandchild):   # killed with its group (a zombie until init reaps it)
        assert time.monotonic() < deadline, "the run's grandchild outlived the stop"
        time.sleep(0.05)


def _state(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((line for line in fh if line.startswith("State:")), "").lower()
    except FileNotFoundError:
        return "zombie"


def test_a_run_takes_the_target_options_before_the_pytest_arguments(tmp_path):
    from voice_harness.tools.stability import run_args

    args = run_args(None, 5, tmp_path, "2", ["-k", "canary"], ["--profile", "mine.toml", "--app-url", "http://x/"])
    cut = args.index("--")
    assert args[cut - 4:cut] == ["--profile", "mine.toml", "--app-url", "http://x/"]
    assert args[cut + 1:] == ["-q", "-k", "canary"]
