"""`voice-harness report --merge DIR...`: the shards of one run (`run --shard K/N`) made into one set of reports
in the output folder: conformance.json and .md judged again over all the shards' tests by the one verdict
function (judging.verdicts), the exit status by the run's own rule, the Allure results of every shard in one
folder and the HTML report built from them. (The matrix shards of `sensitivity --shard K/N` are found here and
merged by tools.sensitivity.merge, which owns the matrix's rules.)

A shard of another harness version, target, selection or number of parts, a missing shard and a shard given
twice are refused (exit 2, one line) before anything is written."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path

from voice_harness.errors import UsageProblem
from voice_harness.judging import catalogue
from voice_harness.judging.verdicts import CaseResult, exit_status, first_error, verdicts
from voice_harness.reports import report, shards

MATRIX_GLOB = "sensitivity*.json"
# The run's status when a test could not be judged (as the plugin writes it).
ENVIRONMENT_ERROR = "environment error"


def case_result(data: dict) -> CaseResult:
    """A test's result as a shard wrote it (dataclasses.asdict of a CaseResult)."""
    known = {f.name for f in fields(CaseResult)}
    values = {key: value for key, value in data.items() if key in known}
    values["reqs"] = tuple(values.get("reqs", ()))
    return CaseResult(**values)


def find(dirs: list[Path]) -> tuple[list[tuple[str, dict]], dict[str, list[tuple[str, dict]]]]:
    """The run shards (shard.json) and the matrix shards (by file name) in the folders given; UsageProblem for a
    folder given twice or holding no shard."""
    runs, matrices, seen = [], {}, {}
    for folder in dirs:
        where = str(folder)
        if folder.resolve() in seen:
            raise UsageProblem(f"report --merge: {where} given twice (as {seen[folder.resolve()]})")
        seen[folder.resolve()] = where
        if not folder.is_dir():
            raise UsageProblem(f"report --merge: {where} is not a folder")
        found = False
        if (folder / shards.SHARD_FILE).is_file():
            runs.append((where, _read(folder / shards.SHARD_FILE)))
            found = True
        for path in sorted(folder.glob(MATRIX_GLOB)):
            record = _read(path)
            if "shard" in record:
                matrices.setdefault(path.name, []).append((where, record))
                found = True
        if not found:
            raise UsageProblem(f"report --merge: {where} holds no shard (no {shards.SHARD_FILE} of `run --shard "
                               f"K/N`, no matrix of `sensitivity --shard K/N`)")
    return runs, matrices


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageProblem(f"report --merge: {path} cannot be read ({type(exc).__name__})") from None


def check_runs(found: list[tuple[str, dict]]) -> None:
    """The run shards are the parts of one run: UsageProblem otherwise."""
    shards.check_same("harness version", [(w, r.get("harness")) for w, r in found])
    shards.check_same("target", [(w, r.get("target")) for w, r in found])
    shards.check_same("--require-complete", [(w, r.get("require_complete")) for w, r in found])
    shards.check_same("number of parts", [(w, shards.parse(r["shard"]).n) for w, r in found])
    shards.check_same("selection of tests", [(w, r.get("selection", {}).get("digest")) for w, r in found])
    shards.check_complete([(w, shards.parse(r["shard"])) for w, r in found])


def merged_run(found: list[tuple[str, dict]]) -> tuple[dict, int, list[CaseResult], list[dict]]:
    """(conformance record, exit status, results, canary figures) of the shards judged as one run."""
    check_runs(found)
    ordered = sorted(found, key=lambda item: shards.parse(item[1]["shard"]).k)
    results = [case_result(data) for _, r in ordered for data in r["results"]]
    target = ordered[0][1]["target"]
    strict = bool(target.get("strict"))
    known = catalogue.load()
    table = verdicts(known, results)
    error = first_error(results)
    status = ENVIRONMENT_ERROR if error is not None else shards.run_status([r["status"] for _, r in ordered])
    run = {**target, "status": status, "shards": len(ordered), "merged_from": [w for w, _ in ordered]}
    if error is not None:
        run["error"] = {"party": error.party, "test": error.nodeid, "reason": error.reason}
    record = report.to_json(table, known, run, strict)
    record["failures"] = [f for _, r in ordered for f in r.get("failures", [])]
    code = 2 if error is not None else exit_status(
        shards.pytest_status([r["pytest_status"] for _, r in ordered]), table, results, strict,
        bool(ordered[0][1].get("require_complete")))
    return record, code, results, [f for _, r in ordered for f in r.get("figures", [])]


def collect_allure(dirs: list[Path], out: Path) -> int:
    """Every shard's Allure results into out (one folder: the result files are named by uuid); how many test
    results."""
    out.mkdir(parents=True, exist_ok=True)
    for folder in dirs:
        source = folder / "allure-results"
        if not source.is_dir():
            continue
        for path in source.iterdir():
            target = out / path.name
            if path.is_file() and not target.exists():   # environment.properties: the same target in every shard
                shutil.copy2(path, target)
    return len(list(out.glob("*-result.json")))


def write_run(found: list[tuple[str, dict]], out: Path, html: Path | None, log=print) -> int:
    """The run shards' conformance.json and .md (and metrics.json) in out, their Allure results in
    out/allure-results and the HTML report in the folder html (None: none); the merged run's exit status."""
    record, code, results, figures = merged_run(found)
    report.write(out, record)
    if figures:
        report.write_metrics(out, results, figures, record["failures"])
    for line in report.terminal_table(record):
        log(line)
    error = first_error(results)
    if error is not None:
        log(report.error_line(error.party, error.reason, error.nodeid))
    log(f"merged {len(found)} run shards: {out / 'conformance.json'}, .md")
    count = collect_allure([Path(w) for w, _ in found], out / "allure-results")
    if html is not None and count:
        from voice_harness.reports import html_report
        built = html_report.build(out / "allure-results", html, log=log)
        log(f"report: {built['index']} ({built['stats'].get('total', '?')} tests)")
    return code
