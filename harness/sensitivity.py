"""python -m harness sensitivity: run the suites against every known defect and publish which requirements
each one turns red. A check never seen failing proves nothing; this makes the harness's sensitivity a figure.

Full mode runs every suite per defect (catches collateral anywhere); reduced mode runs only the tests of the
defect's expected and collateral ids plus CANARY-1 (what `make test` uses)."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

from reference_proxy.defects import DEFECTS, Defect

from . import catalogue


def run_one(defect: Defect, reports_dir: Path, reduced: bool, workers: int) -> dict:
    out = reports_dir / "sensitivity" / defect.name
    args = [sys.executable, "-m", "harness", "run", "--defect", defect.name, "--reports-dir", str(out), "--",
            "-q"]
    if reduced:
        args.append("--req=" + ",".join(sorted({*defect.breaks, *defect.collateral, "CANARY-1"})))
    args += ["-n", str(workers) if workers > 1 else "0"]  # two defects run at once already (--jobs)
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
    (out / "output.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "output.txt").write_text(done.stdout + done.stderr)
    record_path = out / "conformance.json"
    if not record_path.is_file():
        return {"exit": done.returncode, "error": (done.stdout + done.stderr).strip().splitlines()[-1:],
                "red": [], "green": [], "seconds": round(time.monotonic() - started, 1)}
    record = json.loads(record_path.read_text())["requirements"]
    return {"exit": done.returncode, "seconds": round(time.monotonic() - started, 1),
            "red": [rid for rid, e in record.items() if e["verdict"] == "fail"],
            "green": [rid for rid, e in record.items() if e["verdict"] == "pass"],
            # Why each id went red: an unexpected red must be explainable from this record alone.
            "reasons": {rid: e["reason"] for rid, e in record.items() if e["verdict"] == "fail"}}


def judge(defect: Defect, result: dict) -> dict:
    red = set(result["red"])
    return {**result, "expected_red": list(defect.breaks), "collateral": list(defect.collateral),
            "missed": [r for r in defect.breaks if r not in red],
            "unexpected_red": sorted(red - set(defect.breaks) - set(defect.collateral))}


def matrix(results: dict[str, dict], mode: str) -> dict:
    known = catalogue.load()
    caught = {rid for name, r in results.items() for rid in DEFECTS[name].breaks if rid in r["red"]}
    musts = [rid for rid, req in known.items() if req.level == "MUST"]
    return {"mode": mode, "defects": results,
            "must_ids_caught": [rid for rid in musts if rid in caught],
            "must_ids_uncaught": [rid for rid in musts if rid not in caught],
            "should_ids_caught": [rid for rid, req in known.items() if req.level == "SHOULD" and rid in caught],
            "should_ids_uncaught": [rid for rid, req in known.items() if req.level == "SHOULD" and rid not in caught]}


def expected_exit(result: dict) -> int:
    """1 when the defect turned a MUST requirement red; SHOULD failures alone do not fail a run."""
    known = catalogue.load()
    return 1 if any(known[rid].level == "MUST" for rid in result["red"]) else 0


def passed(record: dict) -> bool:
    return not record["must_ids_uncaught"] and all(
        not r["missed"] and not r["unexpected_red"] and r["exit"] == expected_exit(r)
        for r in record["defects"].values())


def to_markdown(record: dict) -> str:
    ids = list(catalogue.load())
    lines = [f"Sensitivity matrix ({record['mode']} mode): each row a known defect of the reference proxy, each "
             f"column a requirement. **X** expected red and red; **x** red for the defect's stated collateral "
             f"reason; **MISS** expected red but not red; **!** red without a stated reason; `.` green; blank: "
             f"not run.", "",
             "| defect | " + " | ".join(ids) + " |", "|---|" + "---|" * len(ids)]
    for name, result in record["defects"].items():
        defect = DEFECTS[name]
        cells = []
        for rid in ids:
            if rid in result["red"]:
                cells.append("X" if rid in defect.breaks else "x" if rid in defect.collateral else "!")
            elif rid in defect.breaks:
                cells.append("MISS")
            else:
                cells.append("." if rid in result["green"] else "")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", f"MUST ids caught: {len(record['must_ids_caught'])} of "
                  f"{len(record['must_ids_caught']) + len(record['must_ids_uncaught'])}; uncaught: "
                  f"{', '.join(record['must_ids_uncaught']) or 'none'}. SHOULD ids caught: "
                  f"{len(record['should_ids_caught'])}; without a defect: "
                  f"{', '.join(record['should_ids_uncaught']) or 'none'}.", "", "Collateral, with reasons:", ""]
    for defect in DEFECTS.values():
        if defect.collateral:
            lines.append(f"- `{defect.name}` also turns {', '.join(defect.collateral)} red: {defect.collateral_reason}")
    return "\n".join(lines) + "\n"


def main(names: list[str] | None, reduced: bool, jobs: int, workers: int, reports_dir: Path,
         docs: Path | None) -> int:
    chosen = [DEFECTS[n] for n in (names or sorted(DEFECTS))]
    mode = "reduced" if reduced else "full"
    print(f"harness sensitivity: {len(chosen)} defects, {mode} mode, {jobs} at a time", flush=True)
    results: dict[str, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_one, d, reports_dir, reduced, workers): d for d in chosen}
        for future in concurrent.futures.as_completed(futures):
            defect = futures[future]
            results[defect.name] = judge(defect, future.result())
            r = results[defect.name]
            status = "ok" if not r["missed"] and not r["unexpected_red"] else \
                f"MISSED {r['missed']} UNEXPECTED {r['unexpected_red']}: " + "; ".join(
                    f"{rid}: {r.get('reasons', {}).get(rid, '')}" for rid in r["unexpected_red"])
            print(f"  {defect.name:<42} red {', '.join(r['red']) or '-':<40} {r['seconds']:>6.1f}s  {status}",
                  flush=True)
    record = matrix({d.name: results[d.name] for d in chosen}, mode)
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "sensitivity.json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = to_markdown(record)
    (reports_dir / "sensitivity.md").write_text(markdown)
    if docs is not None:
        docs.write_text("# Sensitivity of the harness\n\nMade by `python -m harness sensitivity "
                        f"--docs {docs}`{' --reduced' if reduced else ''}.\n\n" + markdown)
    print(f"reports: {reports_dir / 'sensitivity.json'}, sensitivity.md; MUST ids uncaught: "
          f"{', '.join(record['must_ids_uncaught']) or 'none'}")
    return 0 if passed(record) else 1
