"""voice-harness sensitivity: run the suites against every known defect and publish which requirements
each one turns red. A check never seen failing proves nothing; this makes the harness's sensitivity a figure.

Full mode runs every suite per defect (catches collateral anywhere); reduced mode runs only the tests of the
defect's expected and collateral ids plus CANARY-1 (what `make test` uses). `--shard K/N` runs the K-th of N parts
of the defects (sorted, dealt round-robin) and `voice-harness report --merge` makes the one matrix of the parts."""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time
from pathlib import Path

from voice_harness.targets.defect_registry import Defect, load as load_defects
from voice_harness.tools import bounded
from voice_harness.tools.bounded import run_bounded

from voice_harness import version
from voice_harness.judging import catalogue
from voice_harness.reports import shards

RUN_TIMEOUT_S = 1800
RUN_GRACE_S = 30   # for a run stopped at its bound to end its workers, proxies and browsers


def reduced_selection(defect: Defect) -> list[str]:
    """The ids a reduced run of this defect selects: those it must turn red (or keep green), its collateral,
    and the canary."""
    return sorted({*defect.breaks, *defect.collateral, *defect.stays_green, "CANARY-1"})


def run_one(defect: Defect | None, reports_dir: Path, reduced: bool, workers: int, variant: str | None = None) -> dict:
    """One harness run with this defect switched on (None: the variant's baseline, no defect); its red,
    green and inconclusive ids."""
    name = defect.name if defect is not None else "baseline"
    out = reports_dir / "sensitivity" / (f"{variant}-{name}" if variant else name)
    args = [sys.executable, "-m", "voice_harness", "run", "--reports-dir", str(out)]
    if defect is not None:
        args += ["--defect", defect.name]
    if variant:
        args += ["--variant", variant]
    args += ["--", "-q"]
    if reduced and defect is not None:
        args.append("--req=" + ",".join(reduced_selection(defect)))
    args += ["-n", str(workers) if workers > 1 else "0"]  # two defects run at once already (--jobs)
    started = time.monotonic()
    done = run_bounded(args, RUN_TIMEOUT_S, interrupt_grace=RUN_GRACE_S)
    code = -1 if done.code is None else done.code
    (out / "output.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "output.txt").write_text(done.output)
    record_path = out / "conformance.json"
    if not record_path.is_file():
        return {"exit": code, "error": done.output.strip().splitlines()[-1:],
                "red": [], "green": [], "inconclusive": [], "gate_passed": None,
                "seconds": round(time.monotonic() - started, 1)}
    conformance = json.loads(record_path.read_text())
    record = conformance["requirements"]
    return {"exit": code, "seconds": round(time.monotonic() - started, 1),
            "red": [rid for rid, e in record.items() if e["verdict"] == "fail"],
            "green": [rid for rid, e in record.items() if e["verdict"] == "pass"],
            "inconclusive": [rid for rid, e in record.items() if e["verdict"] == "inconclusive"],
            # Not judged (environment, harness, app or scenario error): the matrix cannot count these either way.
            "errors": [rid for rid, e in record.items() if e["verdict"] == "error"],
            "status": conformance["run"].get("status", "complete"),
            # Nothing stopped the gate (the run's exit 0): a reduced run is partial, and passes so.
            "gate_passed": _gate_not_stopped(conformance.get("gate") or {}),
            # Why each id went red: an unexpected red must be explainable from this record alone.
            "reasons": {rid: e["reason"] for rid, e in record.items()
                        if e["verdict"] in ("fail", "error", "inconclusive")}}


def _gate_not_stopped(gate: dict) -> bool | None:
    if "state" in gate:
        return gate["state"] != "failed"
    return gate.get("passed")


def judge(defect: Defect, result: dict, baseline: dict | None = None) -> dict:
    """Which expected ids stayed green (missed) and which went red without a stated reason. Against a variant,
    ids already red or inconclusive in the variant's baseline (features it ignores) are neither."""
    red = set(result["red"])
    known_bad = set(baseline["red"]) | set(baseline["inconclusive"]) if baseline else set()
    return {**result, "expected_red": list(defect.breaks), "collateral": list(defect.collateral),
            "missed": [r for r in defect.breaks if r not in red],
            "unexpected_red": sorted(red - set(defect.breaks) - set(defect.collateral) - known_bad)}


def applicable(defect: Defect, baseline: dict | None) -> bool:
    """A defect can be judged on a variant only if every id it breaks passes there without it (a defect of a
    feature the variant ignores cannot be seen on it)."""
    return baseline is None or set(defect.breaks) <= set(baseline["green"])


def matrix(results: dict[str, dict], mode: str, variant: str | None = None, baseline: dict | None = None,
           not_applicable: list[str] = ()) -> dict:
    known = catalogue.load()
    caught = {rid for name, r in results.items() for rid in load_defects()[name].breaks if rid in r["red"]}
    # On a variant, a MUST id it cannot pass (a feature it ignores) is not the matrix's to catch.
    scope = [rid for rid, req in known.items() if (baseline is None or rid in baseline["green"]) and not req.planned]
    musts = [rid for rid in scope if known[rid].level == "MUST"]
    return {"mode": mode, "variant": variant, "defects": results,
            **({"baseline": baseline, "not_applicable": list(not_applicable)} if baseline is not None else {}),
            "must_ids_caught": [rid for rid in musts if rid in caught],
            "must_ids_uncaught": [rid for rid in musts if rid not in caught],
            "should_ids_caught": [rid for rid in scope if known[rid].level == "SHOULD" and rid in caught],
            "should_ids_uncaught": [rid for rid in scope if known[rid].level == "SHOULD" and rid not in caught]}


def expected_exit(result: dict) -> int:
    """1 when the gate failed in the run's own record (a MUST id red, or only inconclusive); 0 when it passed.
    Without a record, 1 when a MUST id went red."""
    if result.get("gate_passed") is not None:
        return 0 if result["gate_passed"] else 1
    known = catalogue.load()
    return 1 if any(known[rid].level == "MUST" for rid in result["red"]) else 0


def passed(record: dict) -> bool:
    """Every MUST id caught, and every defect's run judged (no error), red where expected and nowhere else."""
    return not record["must_ids_uncaught"] and rows_ok(record)


def rows_ok(record: dict) -> bool:
    """Every defect's run judged (no error), red where expected and nowhere else: all a shard of the matrix can
    say (which MUST ids the defects catch is the merged matrix's to count)."""
    return all(not r["missed"] and not r["unexpected_red"] and not r.get("errors") and r.get("status", "complete") ==
               "complete" and r["exit"] == expected_exit(r) for r in record["defects"].values())


def to_markdown(record: dict) -> str:
    ids = list(catalogue.load())
    variant = record.get("variant")
    title = f"Sensitivity matrix ({record['mode']} mode" + (f", variant `{variant}`" if variant else "") + ")"
    lines = [f"{title}: each row a known defect of the reference proxy, each column a requirement. **X** expected "
             f"red and red; **x** red for the defect's stated collateral reason; **MISS** expected red but not red; "
             f"**!** red without a stated reason; **E** not judged (an environment, harness, app or scenario error: the run is not valid); **?** inconclusive (its situation never arose, or a step it "
             f"needed failed under another id); `.` green; blank: not run.", ""]
    rows = list(record["defects"].items())
    if "baseline" in record:
        lines += [f"The first row is the variant without a defect: ids it cannot pass (features it ignores) are "
                  f"out of scope for the rows below, and defects that only break such ids are not run on it: "
                  f"{', '.join(f'`{n}`' for n in record['not_applicable']) or 'none'}.", ""]
        rows.insert(0, ("(no defect)", record["baseline"]))
    lines += ["| defect | " + " | ".join(ids) + " |", "|---|" + "---|" * len(ids)]
    for name, result in rows:
        defect = load_defects().get(name)
        breaks = defect.breaks if defect else ()
        collateral = defect.collateral if defect else ()
        cells = []
        for rid in ids:
            if rid in result["red"]:
                cells.append("X" if rid in breaks else "x" if rid in collateral else "!")
            elif rid in result.get("errors", []):
                cells.append("E")
            elif rid in breaks:
                cells.append("MISS")
            elif rid in result.get("inconclusive", []):
                cells.append("?")
            else:
                cells.append("." if rid in result["green"] else "")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", f"MUST ids caught: {len(record['must_ids_caught'])} of "
                  f"{len(record['must_ids_caught']) + len(record['must_ids_uncaught'])}; uncaught: "
                  f"{', '.join(record['must_ids_uncaught']) or 'none'}. SHOULD ids caught: "
                  f"{len(record['should_ids_caught'])}; without a defect: "
                  f"{', '.join(record['should_ids_uncaught']) or 'none'}. Planned, no test yet: "
                  f"{', '.join(catalogue.planned()) or 'none'}.", "", "Collateral, with reasons:", ""]
    for defect in load_defects().values():
        if defect.collateral:
            lines.append(f"- `{defect.name}` also turns {', '.join(defect.collateral)} red: {defect.collateral_reason}")
    return "\n".join(lines) + "\n"


DOCS_TITLE = "# Sensitivity of the harness\n"


def write_docs(docs: Path, record: dict, reduced: bool) -> None:
    """Put this matrix on the docs page in its own section (one per variant), keeping the others."""
    variant = record.get("variant")
    # One section per variant and mode: a reduced matrix (each defect's own tests) never replaces a full one.
    key = (variant or "reference") + ("-reduced" if reduced else "")
    flags = (" --reduced" if reduced else "") + (f" --variant {variant}" if variant else "")
    heading = f"## {'The feature-minimal variant' if variant else 'The reference proxy'}" + \
        (", reduced (each defect's own tests and CANARY-1)" if reduced else "")
    section = (f"<!-- matrix:{key} -->\n{heading}\n\nMade by `voice-harness sensitivity --docs {docs}{flags}`."
               f"\n\n{to_markdown(record)}<!-- /matrix:{key} -->\n")
    text = docs.read_text() if docs.is_file() else DOCS_TITLE
    start, end = f"<!-- matrix:{key} -->", f"<!-- /matrix:{key} -->\n"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    docs.write_text(text)


def check_shards(name: str, found: list[tuple[str, dict]]) -> None:
    """The matrix shards (where, record) of one file name are the parts of one matrix: UsageProblem otherwise."""
    shards.check_same(f"{name}: harness version", [(w, r["shard"].get("harness")) for w, r in found])
    shards.check_same(f"{name}: mode and variant", [(w, (r.get("mode"), r.get("variant"))) for w, r in found])
    shards.check_same(f"{name}: selection of defects", [(w, r["shard"].get("selection")) for w, r in found])
    shards.check_same(f"{name}: number of parts", [(w, shards.parse(r["shard"]["part"]).n) for w, r in found])
    shards.check_complete([(w, shards.parse(r["shard"]["part"])) for w, r in found])


def merge(name: str, found: list[tuple[str, dict]]) -> tuple[dict, int]:
    """(matrix, exit status) of the matrix shards as one matrix: every shard's rows in the selection's order, the
    ids caught counted over all of them, the exit status by the matrix's own rule (passed)."""
    check_shards(name, found)
    ordered = sorted(found, key=lambda item: shards.parse(item[1]["shard"]["part"]).k)
    first = ordered[0][1]
    rows = {defect: row for _, r in ordered for defect, row in r["defects"].items()}
    skipped = sorted({d for _, r in ordered for d in r.get("not_applicable", [])})
    record = matrix({d: rows[d] for d in first["shard"]["selection"] if d in rows}, first["mode"],
                    first.get("variant"), first.get("baseline"), skipped)
    return record, 0 if passed(record) else 1


def write_merged(matrices: dict[str, list[tuple[str, dict]]], out: Path, log=print) -> list[int]:
    """Each merged matrix (JSON and Markdown) in out, under the shards' file name; the exit statuses."""
    codes = []
    for name, found in matrices.items():
        record, code = merge(name, found)
        out.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(json.dumps(record, indent=2) + "\n")
        (out / name.replace(".json", ".md")).write_text(to_markdown(record))
        log(f"merged {len(found)} matrix shards: {out / name}, {name.replace('.json', '.md')}; MUST ids uncaught: "
            f"{', '.join(record['must_ids_uncaught']) or 'none'}")
        codes.append(code)
    return codes


def main(names: list[str] | None, reduced: bool, jobs: int, workers: int, reports_dir: Path,
         docs: Path | None, variant: str | None = None, shard: shards.Shard | None = None) -> int:
    selection = names or sorted(load_defects())
    # A shard runs its part of the defects (reports.shards.pick); `report --merge` makes the one matrix.
    chosen = [load_defects()[n] for n in selection if shard is None or n in shards.pick(selection, shard)]
    mode = "reduced" if reduced else "full"
    suffix = f"-{variant}" if variant else ""
    part = f", shard {shard} ({len(chosen)} of {len(selection)} defects)" if shard else ""
    print(f"harness sensitivity: {len(chosen)} defects, {mode} mode{f', variant {variant}' if variant else ''}, "
          f"{jobs} at a time{part}", flush=True)
    baseline = None
    if variant:
        baseline = run_one(None, reports_dir, False, max(workers, 2), variant)
        print(f"  {'(no defect: the variant baseline)':<42} red {', '.join(baseline['red']) or '-'}; inconclusive "
              f"{', '.join(baseline['inconclusive']) or '-'}  {baseline['seconds']:>6.1f}s", flush=True)
    skipped = [d.name for d in chosen if not applicable(d, baseline)]
    results: dict[str, dict] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
    futures: dict = {}
    try:
        for d in chosen:
            if d.name not in skipped:
                futures[pool.submit(run_one, d, reports_dir, reduced, workers, variant)] = d
        for future in concurrent.futures.as_completed(futures):
            defect = futures[future]
            results[defect.name] = judge(defect, future.result(), baseline)
            r = results[defect.name]
            status = "ok" if not r["missed"] and not r["unexpected_red"] else \
                f"MISSED {r['missed']} UNEXPECTED {r['unexpected_red']}: " + "; ".join(
                    f"{rid}: {r.get('reasons', {}).get(rid, '')}" for rid in r["unexpected_red"] + r["missed"])
            print(f"  {defect.name:<42} red {', '.join(r['red']) or '-':<40} {r['seconds']:>6.1f}s  {status}",
                  flush=True)
    except KeyboardInterrupt:
        # The pool would wait for the running defects: cancel the queued ones and stop the running ones (and any
        # a thread starts meanwhile) first.
        pool.shutdown(wait=False, cancel_futures=True)
        bounded.stop_all(RUN_GRACE_S)
        raise
    finally:
        pool.shutdown(wait=True)
    record = matrix({d.name: results[d.name] for d in chosen if d.name in results}, mode, variant, baseline,
                    skipped)
    if shard is not None:
        record["shard"] = {"part": str(shard), "harness": version(), "selection": list(selection)}
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / f"sensitivity{suffix}.json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = to_markdown(record)
    (reports_dir / f"sensitivity{suffix}.md").write_text(markdown)
    if docs is not None:
        write_docs(docs, record, reduced)
    print(f"reports: {reports_dir / f'sensitivity{suffix}.json'}, sensitivity{suffix}.md; MUST ids uncaught: "
          f"{', '.join(record['must_ids_uncaught']) or 'none'}"
          + (f"; not applicable to the variant: {', '.join(skipped)}" if skipped else ""))
    if shard is not None:
        print(f"harness: shard {shard} of the matrix: merge the shards with `voice-harness report --merge DIR...` "
              f"(its MUST ids are counted there)")
        return 0 if rows_ok(record) else 1
    return 0 if passed(record) else 1
