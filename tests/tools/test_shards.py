"""`voice-harness run --shard K/N` and `sensitivity --shard K/N`, merged by `voice-harness report --merge`: the
shards of a run merged give the verdicts and the exit status of the one run (end to end, under the field defect so
that there is something red to keep), and the shards of a matrix merge into the matrix of all their rows."""

import json
import subprocess
import sys

import pytest

from support import ROOT, harness_run
from voice_harness.reports import shards
from voice_harness.reports.shards import Shard
from voice_harness.targets.defect_registry import load as load_defects
from voice_harness.tools import sensitivity

SELECTION = ("--req", "CANARY-1,ORD-1")


def report_merge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voice_harness", "report", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def judged(record: dict) -> dict:
    return {rid: (e["verdict"], sorted(e["tests"])) for rid, e in record["requirements"].items()}


@pytest.mark.e2e
def test_two_shards_merged_give_the_verdicts_and_the_exit_status_of_one_run(tmp_path):
    defect = ("--defect", "premature-response-create")
    # Shard 1 serially, shard 2 on two workers: the split does not depend on pytest-xdist.
    first, _ = harness_run(tmp_path / "s1", *defect, "--shard", "1/2", "--workers", "1", "--", *SELECTION)
    second, _ = harness_run(tmp_path / "s2", *defect, "--shard", "2/2", "--workers", "2", "--", *SELECTION)
    whole, _ = harness_run(tmp_path / "one", *defect, "--workers", "2", "--", *SELECTION)
    parts = [json.loads((tmp_path / s / shards.SHARD_FILE).read_text()) for s in ("s1", "s2")]
    assert parts[0]["selection"]["digest"] == parts[1]["selection"]["digest"]
    assert parts[0]["selection"]["shard_tests"] + parts[1]["selection"]["shard_tests"] == parts[0]["selection"]["tests"]
    assert not {r["nodeid"] for r in parts[0]["results"]} & {r["nodeid"] for r in parts[1]["results"]}

    done = report_merge("--merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--reports-dir",
                        str(tmp_path / "merged"), "--no-html")
    merged = json.loads((tmp_path / "merged" / "conformance.json").read_text())
    one = json.loads((tmp_path / "one" / "conformance.json").read_text())
    assert judged(merged) == judged(one)
    assert merged["gate"] == one["gate"] and merged["summary"] == one["summary"]
    assert merged["requirements"]["ORD-1"]["verdict"] == "fail"   # something red survived the merge
    assert done.returncode == whole.returncode == 1, done.stdout[-2000:] + done.stderr
    assert (tmp_path / "merged" / "conformance.md").is_file()
    assert len(list((tmp_path / "merged" / "allure-results").glob("*-result.json"))) == parts[0]["selection"]["tests"]
    assert {first.returncode, second.returncode} <= {0, 1}


def test_a_merge_of_shards_of_different_targets_is_refused_in_one_line(tmp_path):
    for part, defect in (("1/2", None), ("2/2", "ack-any-item")):
        folder = tmp_path / part.replace("/", "-")
        folder.mkdir()
        (folder / shards.SHARD_FILE).write_text(json.dumps({
            "kind": "run", "harness": "0.1.0", "shard": part, "target": {"profile": "reference", "defect": defect},
            "require_complete": False, "selection": {"tests": 2, "digest": "x", "shard_tests": 1},
            "pytest_status": 0, "status": "complete", "results": []}))
    done = report_merge("--merge", str(tmp_path / "1-2"), str(tmp_path / "2-2"), "--reports-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "different runs: target" in done.stderr and not (tmp_path / "out").exists()


# ---- the matrix in shards


def matrix_shard(selection: list[str], shard: Shard, red_of=lambda d: list(d.breaks)) -> dict:
    """A shard's matrix as `sensitivity --shard` writes it, with each defect's run red on red_of(defect)."""
    rows = {}
    for name in shards.pick(selection, shard):
        defect = load_defects()[name]
        rows[name] = sensitivity.judge(defect, {"exit": 1, "red": red_of(defect), "green": [], "inconclusive": [],
                                                "errors": [], "status": "complete", "gate_passed": False,
                                                "seconds": 1.0})
    record = sensitivity.matrix(rows, "reduced")
    record["shard"] = {"part": str(shard), "harness": "0.1.0", "selection": selection}
    return record


def test_the_matrix_shards_merge_into_the_matrix_of_all_their_rows():
    selection = sorted(load_defects())
    found = [(f"s{k}", matrix_shard(selection, Shard(k, 4))) for k in (3, 1, 4, 2)]
    # No shard alone catches every MUST id, and none has a row that is wrong: each shard exits 0 on its own rows.
    assert all(sensitivity.rows_ok(r) and not sensitivity.passed(r) for _, r in found)
    record, code = sensitivity.merge("sensitivity.json", found)
    whole = sensitivity.matrix({d: r for _, s in found for d, r in s["defects"].items()}, "reduced")
    assert list(record["defects"]) == selection
    assert record["must_ids_caught"] == whole["must_ids_caught"]
    assert code == (0 if sensitivity.passed(whole) else 1)


def test_a_wrong_row_in_one_matrix_shard_fails_the_merged_matrix():
    selection = sorted(load_defects())
    missed = selection[0]
    found = [(f"s{k}", matrix_shard(selection, Shard(k, 2),
                                    red_of=lambda d: [] if d.name == missed else list(d.breaks))) for k in (1, 2)]
    record, code = sensitivity.merge("sensitivity.json", found)
    assert code == 1 and record["defects"][missed]["missed"]


@pytest.mark.parametrize("given, said", [
    ([(1, 4), (2, 4), (3, 4)], "shard 4/4 missing"),
    ([(1, 2), (1, 2), (2, 2)], "given twice"),
])
def test_an_incomplete_set_of_matrix_shards_is_refused(given, said):
    selection = sorted(load_defects())
    found = [(f"s{i}", matrix_shard(selection, Shard(k, n))) for i, (k, n) in enumerate(given)]
    with pytest.raises(Exception, match=said):
        sensitivity.merge("sensitivity.json", found)
