"""Writes reports/conformance.json and conformance.md, and formats the terminal summary table."""

from __future__ import annotations

import json
import time
from pathlib import Path

from voice_harness.judging.catalogue import CATALOGUE_VERSION, Requirement
from voice_harness.judging.checks import capability_named
from voice_harness.judging.verdicts import GATE_PARTIAL, GATE_PASSED, Verdict, coverage, gate_state, gating, summary

MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "inconclusive": "INCONCL", "expected": "EXPECTED",
        "skip": "skip", "untested": "-"}


def to_json(table: dict[str, Verdict], catalogue: dict[str, Requirement], run: dict, strict: bool = False) -> dict:
    stopped, covered = gating(table, strict), coverage(table)
    state = gate_state(table, strict)
    return {
        "run": {**run, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "catalogue_version": CATALOGUE_VERSION},
        "requirements": {rid: {"level": v.level, "area": catalogue[rid].area, "verdict": v.verdict,
                               "tests": v.tests, "reason": v.reason,
                               **({"exposed_by": v.exposed_by} if v.exposed_by else {})}
                         for rid, v in table.items()},
        "summary": summary(table),
        # state: passed (a release verdict), partial (nothing stopped the gate, but not every id was judged) or
        # failed; passed is true only for the first.
        "gate": {"state": state, "passed": state == GATE_PASSED, "judged": covered["judged"],
                 "total": covered["total"], "failed": stopped["fail"], "not_judged": stopped["error"],
                 "only_inconclusive": stopped["inconclusive"], "left_out": covered["left_out"],
                 "not_checked": covered["not_checked"],
                 "expected_by_scenario": [rid for rid, v in table.items() if v.verdict == "expected"],
                 # skipped ids the app could not exercise, with the optional capability it lacks
                 "not_exercised": {rid: capability_named(v.reason) for rid, v in table.items()
                                   if v.verdict == "skip" and capability_named(v.reason)}},
    }


def gate_line(record: dict) -> str:
    """One line saying whether the gate passed, was only partial (not a release verdict), or which ids stopped
    it."""
    gate = record.get("gate") or {}
    state = gate.get("state", GATE_PASSED if gate.get("passed", True) else "failed")
    partial = f"partial ({gate.get('judged')} of {gate.get('total')} ids judged)"
    if state == GATE_PASSED:
        return "gate: passed"
    if state == GATE_PARTIAL:
        return f"gate: {partial}: not a release verdict"
    parts = []
    if gate.get("failed"):
        parts.append(f"failed: {', '.join(gate['failed'])}")
    if gate.get("not_judged"):
        parts.append(f"not judged (error, not the proxy's): {', '.join(gate['not_judged'])}")
    if gate.get("only_inconclusive"):
        parts.append(f"only inconclusive (never provoked, so not passed): {', '.join(gate['only_inconclusive'])}")
    if gate.get("left_out"):
        parts.append(partial)
    return "gate: FAILED; " + "; ".join(parts)


def gate_notes(record: dict) -> list[str]:
    """The lines that follow the gate line: verdicts a scenario declared (not the proxy's), and the catalogue's
    ids this version has no check for (they do not make a run partial)."""
    gate, lines = record.get("gate") or {}, []
    if gate.get("expected_by_scenario"):
        scenario = record.get("run", {}).get("scenario") or "of its test"
        lines.append(f"expected by the scenario ({scenario}), not the proxy's verdict: "
                     f"{', '.join(gate['expected_by_scenario'])}")
    if gate.get("not_exercised"):
        lines.append("not exercised for want of an app capability (see app-check): " +
                     ", ".join(f"{rid} ({capability})" for rid, capability in gate["not_exercised"].items()))
    if gate.get("not_checked"):
        lines.append(f"not checked by this version: {', '.join(gate['not_checked'])}")
    return lines


def error_line(party: str, reason: str, test: str) -> str:
    """The one line an errored run ends with: the first cause, whose it is, and where it showed."""
    return f"harness: {party} error (not the proxy's failure; exit 2): {reason} [first in {test}]"


def _status(run: dict) -> list[str]:
    status = run.get("status", "complete")
    if status == "complete":
        return []
    error = run.get("error")
    detail = f": {error['party']} error in {error['test']}: {error['reason']}" if error else ""
    return [f"**Run {status}**{detail}. The verdicts below are those judged before it.", ""]


def to_markdown(record: dict) -> str:
    run, counts = record["run"], record["summary"]
    lines = [
        "# Conformance",
        "",
        *_status(run),
        f"Profile `{run.get('profile')}`, scenario `{run.get('scenario') or 'per test'}`, "
        f"defect `{run.get('defect') or 'none'}`{_variant(run)}. MUST failed: **{counts['must_failed']}**, "
        f"MUST inconclusive: **{counts['must_inconclusive']}**, MUST not judged (error): **{counts['must_error']}**, MUST passed: {counts['must_passed']}, "
        f"SHOULD failed: {counts['should_failed']}, SHOULD inconclusive: {counts['should_inconclusive']}, "
        f"{_expected(counts)}untested: {counts['untested']}.",
        "",
        gate_line(record) + ".",
        *[note + "." for note in gate_notes(record)],
        "",
        "| id | level | verdict | tests | reason |",
        "|---|---|---|---|---|",
    ]
    for rid, entry in record["requirements"].items():
        reason = entry["reason"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {rid} | {entry['level']} | {MARK[entry['verdict']]} | {len(entry['tests'])} | {reason} |")
    if record.get("failures"):
        lines += ["", "## Failures, classified", "", "| test | requirements | phase | close code | closed first |",
                  "|---|---|---|---|---|"]
        for f in record["failures"]:
            code = "-" if f["close_code"] is None else f["close_code"]   # no connection closed (closed_first says so)
            lines.append(f"| {f['test']} | {', '.join(f['requirements'])} | {f['phase']} | {code} | "
                         f"{f['closed_first']} |")
    return "\n".join(lines) + "\n"


def _expected(counts: dict) -> str:
    expected = counts.get("must_expected", 0) + counts.get("should_expected", 0)
    return f"expected by the scenario: {expected}, " if expected else ""


def _variant(run: dict) -> str:
    return f", variant `{run['variant']}`" if run.get("variant") else ""


def write_metrics(reports_dir: Path, results: list, figures: list[dict], failures: list[dict]) -> Path:
    """reports/metrics.json (pass rate per requirement, canary figures p50/p95/max) and the TTFR plot."""
    from voice_harness.judging.metrics import summarise, ttfr_svg

    rates = {}
    for result in results:
        for rid in result.reqs:
            if result.outcome in ("passed", "failed"):
                entry = rates.setdefault(rid, {"runs": 0, "passed": 0})
                entry["runs"] += 1
                entry["passed"] += result.outcome == "passed"
    for entry in rates.values():
        entry["pass_rate"] = round(entry["passed"] / entry["runs"], 4)
    ttfr = [f["ttfr_s"] for f in figures if f["ttfr_s"] is not None]
    record = {"requirements": rates, "canary_runs": figures, "failures": failures,
              "canary": {key: summarise([f[key] for f in figures if f[key] is not None])
                         for key in ("connect_s", "settings_applied_s", "ttfr_s")}}
    path = reports_dir / "metrics.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    if ttfr:
        ttfr_svg(ttfr, reports_dir / "metrics-ttfr.svg")
    return path


def write(reports_dir: Path, record: dict) -> tuple[Path, Path]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = reports_dir / "conformance.json", reports_dir / "conformance.md"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    md_path.write_text(to_markdown(record))
    return json_path, md_path


def area_status(record: dict) -> list[str]:
    """One line per catalogue area, e.g. `ordering     FAIL  5/6 pass; failed: ORD-1`."""
    areas: dict[str, dict[str, list[str]]] = {}
    for rid, entry in record["requirements"].items():
        areas.setdefault(entry["area"], {}).setdefault(entry["verdict"], []).append(rid)
    lines = []
    for area, by_verdict in areas.items():
        ran = sum(len(by_verdict.get(v, [])) for v in ("pass", "fail", "error", "inconclusive", "expected"))
        state = "FAIL" if by_verdict.get("fail") else "ERROR" if by_verdict.get("error") else \
            "INCONCL" if by_verdict.get("inconclusive") else "pass" if by_verdict.get("pass") else \
            "EXPECTED" if ran else "-"
        line = f"{area:<12} {state:<7} {len(by_verdict.get('pass', []))}/{ran} pass"
        for verdict, label in (("fail", "failed"), ("error", "not judged (error)"), ("inconclusive", "inconclusive"),
                               ("expected", "expected by the scenario"), ("skip", "skipped")):
            if by_verdict.get(verdict):
                line += f"; {label}: {', '.join(by_verdict[verdict])}"
        if by_verdict.get("untested"):
            line += f"; {len(by_verdict['untested'])} untested"
        lines.append(line)
    return lines


def terminal_table(record: dict, width: int = 100) -> list[str]:
    lines = [f"{'id':<10} {'level':<7} {'verdict':<8} reason"]
    for rid, entry in record["requirements"].items():
        reason = entry["reason"].splitlines()[0] if entry["reason"] else ""
        line = f"{rid:<10} {entry['level']:<7} {MARK[entry['verdict']]:<8} {reason}"
        lines.append(line if len(line) <= width else line[: width - 3] + "...")
    counts = record["summary"]
    lines.append(f"MUST: {counts['must_passed']} passed, {counts['must_failed']} failed, "
                 f"{counts['must_error']} error, {counts['must_inconclusive']} inconclusive; SHOULD: {counts['should_passed']} passed, "
                 f"{counts['should_failed']} failed, {counts['should_inconclusive']} inconclusive; "
                 f"{_expected(counts)}untested: {counts['untested']}")
    lines.append(gate_line(record))
    lines += gate_notes(record)
    return lines
