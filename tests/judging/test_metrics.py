"""Run figures, failure classification and their summary over repeated runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_harness.judging.metrics import classify, percentile, run_figures
from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame

ROOT = Path(__file__).resolve().parents[2]


def frame(t, leg, arrow, type_=None, kind="text", data=None):
    return Frame(t, leg, arrow, kind, type_, data=data or ({"type": type_} if type_ else None))


SETTINGS, APPLIED = frame(1.2, "A", "->", "Settings"), frame(1.3, "A", "<-", "SettingsApplied")
SENT = frame(2.0, "A", "->", "InjectUserMessage")


def test_figures_of_a_good_run():
    reply = frame(2.25, "A", "<-", "ConversationText", data={"type": "ConversationText", "role": "assistant"})
    figures = run_figures(Timeline([SETTINGS, APPLIED, SENT, reply], origin=1.0))
    assert figures == {"connect_s": 0.2, "settings_applied_s": 0.1, "ttfr_s": 0.25}


def test_a_run_the_upstream_closed_while_waiting_for_the_reply():
    close = frame(4.7, "B", "<-", kind="close", data={"code": 1000, "reason": ""})
    timeline = Timeline([SETTINGS, APPLIED, SENT, close], origin=1.0)
    assert classify(timeline) == {"phase": "awaiting reply", "close_code": 1000, "closed_first": "upstream closed"}
    assert run_figures(timeline)["ttfr_s"] is None


def test_a_run_that_never_got_settings_applied():
    close = frame(1.4, "A", "<-", kind="close", data={"code": 1011, "reason": "upstream unreachable"})
    assert classify(Timeline([SETTINGS, close], origin=1.0))["phase"] == "awaiting settings"


def test_nearest_rank_percentiles():
    values = [0.1 * i for i in range(1, 21)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([], 0.5)) == (
        values[9], values[18], None)


@pytest.mark.e2e
def test_repeated_canary_runs_give_a_pass_rate_and_ttfr_percentiles(tmp_path):
    subprocess.run([sys.executable, "-m", "harness", "run", "--repeat", "3", "--reports-dir", str(tmp_path), "--",
                    "--req", "CANARY-1", "-k", "first_text"], cwd=ROOT, capture_output=True, timeout=300,
                   stdin=subprocess.DEVNULL)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["requirements"]["CANARY-1"] == {"runs": 3, "passed": 3, "pass_rate": 1.0}
    ttfr = record["canary"]["ttfr_s"]
    assert ttfr["samples"] == 3 and 0 < ttfr["p50"] <= ttfr["p95"] <= ttfr["max"] < 15
    assert (tmp_path / "metrics-ttfr.svg").read_text().startswith("<svg")
