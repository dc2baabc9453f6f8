"""Shards (reports.shards, reports.merge): the split is deterministic and covers the selection once; the merge
judges all shards' tests with the one verdict function, and refuses shards that are not the parts of one run."""

import json

import pytest

from voice_harness.errors import UsageProblem
from voice_harness.judging import catalogue
from voice_harness.judging.verdicts import CaseResult, exit_status, verdicts
from voice_harness.reports import merge, shards
from voice_harness.reports.shards import Shard

NODES = [f"suites/test_{name}.py::test_{i}[chromium]" for name in ("canary", "ordering", "wire") for i in range(7)]


@pytest.mark.parametrize("text, shard", [("1/1", Shard(1, 1)), ("2/4", Shard(2, 4)), (" 4/4 ", Shard(4, 4))])
def test_a_shard_is_k_of_n(text, shard):
    assert shards.parse(text) == shard and str(shard) == text.strip()


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2", "1/2/3", ""])
def test_a_bad_shard_is_one_usage_line(text):
    with pytest.raises(UsageProblem) as caught:
        shards.parse(text)
    assert "K/N" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 25])
def test_the_shards_cover_the_selection_once_and_differ_in_size_by_one_at_most(n):
    parts = [shards.pick(NODES, Shard(k, n)) for k in range(1, n + 1)]
    assert sorted(name for part in parts for name in part) == sorted(NODES)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_the_split_depends_on_the_selection_only_not_its_order():
    shuffled = NODES[::-1][3:] + NODES[::-1][:3]
    assert shards.pick(shuffled, Shard(2, 3)) == shards.pick(NODES, Shard(2, 3))
    assert shards.selection_digest(shuffled) == shards.selection_digest(NODES)
    assert shards.selection_digest(NODES[1:]) != shards.selection_digest(NODES)
    # Sorted, then dealt round-robin: a fixed answer, the same on any machine.
    assert shards.pick(["c", "a", "d", "b", "e"], Shard(1, 2)) == ["a", "c", "e"]


def test_a_merge_needs_every_part_once_of_one_number_of_parts():
    shards.check_complete([("a", Shard(2, 2)), ("b", Shard(1, 2))])
    for given, said in ([("a", Shard(1, 2))], "shard 2/2 missing"), \
            ([("a", Shard(1, 2)), ("b", Shard(1, 2))], "shard 1/2 given twice (a and b)"), \
            ([("a", Shard(1, 2)), ("b", Shard(2, 3))], "different numbers of parts"):
        with pytest.raises(UsageProblem, match=said.replace("(", r"\(").replace(")", r"\)")):
            shards.check_complete(given)


def test_pytest_status_and_run_status_of_merged_shards():
    assert shards.pytest_status([0, 0]) == 0 and shards.pytest_status([0, 1]) == 1
    assert shards.pytest_status([1, 2, 0]) == 2
    assert shards.run_status(["complete", "interrupted"]) == "interrupted"
    assert shards.run_status(["environment error", "interrupted"]) == "environment error"


# ---- the merge of run shards


def result(nodeid, reqs, outcome="passed", reason="", party="", findings=None):
    return CaseResult(nodeid, tuple(reqs), outcome, reason, party, dict(findings or {}))


RESULTS = [result("t/canary::a", ["CANARY-1"]), result("t/canary::b", ["CANARY-1"], "failed", "no reply"),
           result("t/ord::c", ["ORD-1"], findings={"WIRE-1": "binary JSON"}), result("t/ord::d", ["ORD-3"], "skipped"),
           result("t/ord::e", ["ORD-4"], "inconclusive", "never provoked")]
TARGET = {"profile": "reference", "upstream": "mock", "defect": None, "strict": False}


def shard_record(part, results, **changes):
    import dataclasses

    record = {"kind": "run", "harness": "0.1.0", "shard": part, "target": TARGET, "require_complete": False,
              "selection": {"tests": len(RESULTS), "digest": "d1", "shard_tests": len(results)},
              "pytest_status": 1 if any(r.outcome == "failed" for r in results) else 0, "status": "complete",
              "results": [json.loads(json.dumps(dataclasses.asdict(r))) for r in results], "figures": [],
              "failures": []}
    return {**record, **changes}


def test_merged_shards_are_judged_as_one_run_by_the_one_verdict_function():
    parts = [shards.pick([r.nodeid for r in RESULTS], Shard(k, 2)) for k in (1, 2)]
    found = [(f"s{k}", shard_record(f"{k}/2", [r for r in RESULTS if r.nodeid in parts[k - 1]])) for k in (2, 1)]
    record, code, results, _ = merge.merged_run(found)
    one_run = verdicts(catalogue.load(), RESULTS)
    assert {rid: e["verdict"] for rid, e in record["requirements"].items()} == \
        {rid: v.verdict for rid, v in one_run.items()}
    assert record["requirements"]["WIRE-1"]["verdict"] == "fail"   # an invariant found in another id's test
    assert record["requirements"]["CANARY-1"]["reason"] == "no reply"
    assert code == exit_status(1, one_run, RESULTS, False) == 1
    assert record["run"]["shards"] == 2 and record["run"]["merged_from"] == ["s1", "s2"]


def test_a_merged_error_is_exit_2_and_named_in_the_record():
    broken = [result("t/canary::a", ["CANARY-1"]), result("t/ord::c", ["ORD-1"], "error", "mock crashed", "harness")]
    found = [("s1", shard_record("1/2", broken[:1])), ("s2", shard_record("2/2", broken[1:], status="environment error"))]
    record, code, _, _ = merge.merged_run(found)
    assert code == 2 and record["run"]["status"] == "environment error"
    assert record["run"]["error"] == {"party": "harness", "test": "t/ord::c", "reason": "mock crashed"}


@pytest.mark.parametrize("change, said", [
    ({"harness": "0.2.0"}, "harness version"),
    ({"target": {**TARGET, "defect": "ack-any-item"}}, "target"),
    ({"selection": {"tests": 5, "digest": "other", "shard_tests": 2}}, "selection of tests"),
    ({"require_complete": True}, "--require-complete"),
    ({"shard": "2/3"}, "number of parts"),
    ({"shard": "1/2"}, "shard 1/2 given twice"),
])
def test_shards_of_different_runs_are_refused(change, said):
    found = [("s1", shard_record("1/2", RESULTS[:2])), ("s2", shard_record("2/2", RESULTS[2:], **change))]
    with pytest.raises(UsageProblem, match=said):
        merge.merged_run(found)


def test_the_folders_given_are_read_for_run_and_matrix_shards(tmp_path):
    one, two, empty = tmp_path / "one", tmp_path / "two", tmp_path / "empty"
    for folder in (one, two, empty):
        folder.mkdir()
    (one / shards.SHARD_FILE).write_text(json.dumps(shard_record("1/2", RESULTS[:2])))
    (two / "sensitivity.json").write_text(json.dumps({"defects": {}, "shard": {"part": "1/1"}}))
    (two / "sensitivity-minimal.json").write_text(json.dumps({"defects": {}}))   # a whole matrix: no shard
    runs, matrices = merge.find([one, two])
    assert [w for w, _ in runs] == [str(one)] and list(matrices) == ["sensitivity.json"]
    with pytest.raises(UsageProblem, match="holds no shard"):
        merge.find([one, empty])
    with pytest.raises(UsageProblem, match="given twice"):
        merge.find([one, tmp_path / "one" / ".." / "one"])


def test_every_shards_allure_results_land_in_one_folder(tmp_path):
    for name, files in (("a", ["1-result.json", "environment.properties"]), ("b", ["2-result.json", "2-attachment.txt",
                                                                                   "environment.properties"])):
        (tmp_path / name / "allure-results").mkdir(parents=True)
        for file in files:
            (tmp_path / name / "allure-results" / file).write_text(name)
    assert merge.collect_allure([tmp_path / "a", tmp_path / "b"], tmp_path / "out") == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1-result.json", "2-attachment.txt",
                                                                     "2-result.json", "environment.properties"]
