"""The sensitivity matrix as a self-test. make test runs the reduced matrices (per defect, only the tests of its
expected and collateral requirements plus CANARY-1); `voice-harness sensitivity` runs the full one.

Each matrix is made in parts (`sensitivity --reduced --shard K/N`, as a CI matrix job would) and merged by
the function `report --merge` uses. The parts are shared by the pytest-xdist workers: a part is made once, by the
first worker that needs it, under a file lock; a worker that needs it meanwhile waits for it. So the workers make
the parts side by side instead of one worker making a whole matrix."""

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_harness.judging import catalogue
from voice_harness.reports import shards
from voice_harness.tools import sensitivity
from voice_harness.tools.bounded import run_bounded
from voice_harness.tools.sensitivity import expected_exit
from voice_harness.reference_proxy.defects import DEFECTS

ROOT = Path(__file__).resolve().parents[2]
# A test may wait for every part of a matrix (tens of harness runs); it gets a bound of its own.
pytestmark = pytest.mark.timeout(3000)
# Parts per matrix. The minimal variant's is one: each part runs the variant's baseline (a full run), and on two
# cores (CPU-bound here) a second baseline costs more than the second part gains; its one part is as long as the
# reference matrix's three together, so the two workers stay even.
SHARDS = {None: 3, "minimal": 1}


def harness(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """`voice-harness ARGS`, bounded as the harness bounds its own runs: stopped (the test's timeout, make test
    interrupted), the matrix gets an interrupt and stops its defect runs, instead of a kill that would orphan them.
    Its stderr is in stdout."""
    done = run_bounded([sys.executable, "-m", "harness", *args], timeout, cwd=ROOT, interrupt_grace=60)
    return subprocess.CompletedProcess(args, -1 if done.code is None else done.code, done.output, "")


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


@pytest.fixture(scope="session")
def parts_folder(tmp_path_factory, worker_id) -> Path:
    """A folder the session's xdist workers share (each worker's own base folder is under it)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def matrix_part(folder: Path, variant: str | None, k: int, wait: bool = True) -> dict | None:
    """Part k of the reduced matrix (of the variant): made here if no worker made it yet, else read; None when
    another worker is making it and `wait` is false."""
    n = SHARDS[variant]
    name = f"sensitivity-{variant or 'reference'}-{k}of{n}"
    with open(folder / f"{name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        done = folder / f"{name}.done.json"
        if not done.is_file():
            reports = folder / name
            ran = harness("sensitivity", "--reduced", *(["--variant", variant] if variant else []),
                          "--shard", f"{k}/{n}", "--reports-dir", str(reports))
            record = reports / f"sensitivity{'-' + variant if variant else ''}.json"
            # Written even when the part made no matrix, so that no other test makes it again.
            done.write_text(json.dumps({"record": json.loads(record.read_text()) if record.is_file() else None,
                                        "exit": ran.returncode, "output": ran.stdout[-6000:] + ran.stderr[-2000:]}))
        part = json.loads(done.read_text())
        assert part["record"] is not None, f"part {k}/{n} made no matrix: {part['output'][-3000:]}"
        return part


def whole_matrix(folder: Path, variant: str | None = None) -> dict:
    """Every part, merged as `report --merge` merges them: the parts no worker is making first, then the rest."""
    parts: dict[int, dict] = {}
    for wait in (False, True):
        for k in range(1, SHARDS[variant] + 1):
            if k not in parts and (part := matrix_part(folder, variant, k, wait)) is not None:
                parts[k] = part
    for k, part in parts.items():
        assert part["exit"] in (0, 1), part["output"][-3000:]
    name = f"sensitivity{'-' + variant if variant else ''}.json"
    record, code = sensitivity.merge(name, [(f"part {k}", p["record"]) for k, p in sorted(parts.items())])
    return {"record": record, "exit": code, "output": "\n".join(p["output"] for _, p in sorted(parts.items()))}


def row(folder: Path, name: str) -> dict:
    """The defect's row, from the part of the matrix that runs it."""
    k = next(k for k in range(1, SHARDS[None] + 1) if name in shards.pick(DEFECTS, shards.Shard(k, SHARDS[None])))
    part = matrix_part(folder, None, k)
    return part["record"]["defects"][name]


@pytest.mark.parametrize("name", sorted(DEFECTS))
@pytest.mark.e2e
def test_each_defect_turns_its_requirements_red_and_nothing_else_without_a_stated_reason(parts_folder, name):
    result = row(parts_folder, name)
    assert result["missed"] == [], f"{name} left {result['missed']} green"
    why = {rid: result.get("reasons", {}).get(rid) for rid in result["unexpected_red"]}
    assert result["unexpected_red"] == [], f"{name} turned {result['unexpected_red']} red without a stated reason: {why}"
    # A correct variant (trim-and-newline-join-parts) keeps the ids it names green: a pass, not only no red.
    assert set(DEFECTS[name].stays_green) <= set(result["green"]), (name, result.get("reasons"))
    assert result["exit"] == expected_exit(result)


@pytest.mark.e2e
def test_every_must_requirement_is_caught_by_some_defect(parts_folder):
    reduced_matrix = whole_matrix(parts_folder)
    record = reduced_matrix["record"]
    assert record["must_ids_uncaught"] == []
    assert reduced_matrix["exit"] == 0, reduced_matrix["output"][-2000:]


@pytest.fixture
def minimal_matrix(parts_folder) -> dict:
    return whole_matrix(parts_folder, "minimal")


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
    # It declares no tools: the service answers in words, and the checks say so instead of waiting for a call.
    assert "declares no function" in baseline["reasons"]["MAP-4"], baseline["reasons"]


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
