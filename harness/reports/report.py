"""Writes reports/conformance.json and conformance.md, and formats the terminal summary table."""

from __future__ import annotations

import json
import time
from pathlib import Path

from voice_harness.judging.catalogue import Requirement
from voice_harness.judging.verdicts import Verdict, gating, summary

MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "inconclusive": "INCONCL", "skip": "skip", "untested": "-"}


def to_json(table: dict[str, Verdict], catalogue: dict[str, Requirement], run: dict, strict: bool = False) -> dict:
    stopped = gating(table, strict)
    return {
        "run": {**run, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "catalogue_version": 2},
        "requirements": {rid: {"level": v.level, "area": catalogue[rid].area, "verdict": v.verdict,
                               "tests": v.tests, "reason": v.reason,
                               **({"exposed_by": v.exposed_by} if v.exposed_by else {})}
                         for rid, v in table.items()},
        "summary": summary(table),
        "gate": {"passed": not any(stopped.values()), "failed": stopped["fail"], "not_judged": stopped["error"],
                 "only_inconclusive": stopped["inconclusive"]},
    }


def gate_line(record: dict) -> str:
    """One line saying whether the gate passed, and which ids stopped it."""
    gate = record.get("gate") or {}
    if gate.get("passed", True):
        return "gate: passed"
    parts = []
    if gate.get("failed"):
        parts.append(f"failed: {', '.join(gate['failed'])}")
    if gate.get("not_judged"):
        parts.append(f"not judged (error, not the proxy's): {', '.join(gate['not_judged'])}")
    if gate.get("only_inconclusive"):
        parts.append(f"only inconclusive (never provoked, so not passed): {', '.join(gate['only_inconclusive'])}")
    return "gate: FAILED; " + "; ".join(parts)


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
        f"untested: {counts['untested']}.",
        "",
        gate_line(record) + ".",
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
            lines.append(f"| {f['test']} | {', '.join(f['requirements'])} | {f['phase']} | {f['close_code']} | "
                         f"{f['closed_first']} |")
    return "\n".join(lines) + "\n"


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
        ran = sum(len(by_verdict.get(v, [])) for v in ("pass", "fail", "error", "inconclusive"))
        state = "FAIL" if by_verdict.get("fail") else "ERROR" if by_verdict.get("error") else \
            "INCONCL" if by_verdict.get("inconclusive") else "pass" if ran else "-"
        line = f"{area:<12} {state:<7} {len(by_verdict.get('pass', []))}/{ran} pass"
        for verdict, label in (("fail", "failed"), ("error", "not judged (error)"), ("inconclusive", "inconclusive"),
                               ("skip", "skipped")):
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
                 f"untested: {counts['untested']}")
    lines.append(gate_line(record))
    return lines
