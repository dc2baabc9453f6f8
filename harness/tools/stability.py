"""voice-harness stability: does every id get the same verdict in every run?

Runs `harness run --repeat N` against the reference proxy and, if asked, against defects of the reduced matrix
(each with its reduced selection), optionally while every core is kept busy, and counts the ids whose verdict
was not the same in all N runs (from conformance.json's `repeats`, judged per run by judging.repeats). Writes
reports/stability.json; exit 0 when every id was stable, 1 when one was not, 2 when a run could not be judged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from voice_harness.judging.repeats import Stability
from voice_harness.targets.defect_registry import Defect, load as load_defects
from voice_harness.targets.run_config import available_cpus
from voice_harness.tools.bounded import run_bounded
from voice_harness.tools.sensitivity import reduced_selection

RUN_TIMEOUT_S = 3600
GRACE_S = 30   # for an interrupted run to end its workers, proxies and browsers
# What keeps a core busy: a bounded busy loop (it ends by itself after its bound even if never stopped).
_BUSY = "import time\nend = time.monotonic() + {bound}\nwhile time.monotonic() < end:\n    pass\n"


def targets(names: list[str], reference: bool = True) -> list[Defect | None]:
    """None (the reference proxy) first unless left out, then the named defects; `all`: every defect of the
    registry."""
    registry = load_defects()
    unknown = [n for n in names if n not in registry and n != "all"]
    if unknown:
        raise ValueError(f"unknown defect {unknown[0]!r}: see reference_proxy/defects.toml")
    chosen = list(registry.values()) if "all" in names else [registry[n] for n in names]
    if not reference and not chosen:
        raise ValueError("stability --without-reference needs a --defect")
    return ([None] if reference else []) + chosen


@contextmanager
def busy_cores(on: bool, bound_s: float):
    """Every core kept busy by a loop of its own while the block runs (each in its own process group, ended
    at the end; each loop also ends by itself after bound_s); the loops' pids."""
    loops = []
    if on:
        for _ in range(available_cpus()):
            loops.append(subprocess.Popen([sys.executable, "-c", _BUSY.format(bound=bound_s)],
                                          stdin=subprocess.DEVNULL, start_new_session=True))
    try:
        yield [loop.pid for loop in loops]
    finally:
        for loop in loops:
            try:
                os.killpg(loop.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            loop.wait()


def run_args(defect: Defect | None, repeat: int, reports: Path, workers: str, extra: list[str] = (),
             target: list[str] = ()) -> list[str]:
    """The `harness run` of one target: `target` holds run options (--profile, --app-url), `extra` pytest's."""
    args = [sys.executable, "-m", "voice_harness", "run", "--repeat", str(repeat), "--reports-dir", str(reports),
            "--workers", workers, *target]
    if defect is not None:
        args += ["--defect", defect.name]
    args += ["--", "-q"]
    if defect is not None:
        args.append("--req=" + ",".join(reduced_selection(defect)))
    return args + list(extra)


def harness_run(args: list[str]) -> tuple[int, str]:
    """One `harness run`, bounded (tools.bounded: interrupted, then killed, with all it started); exit code -1
    when it was stopped."""
    done = run_bounded(args, RUN_TIMEOUT_S, interrupt_grace=GRACE_S)
    if done.code is None:
        return -1, f"{done.output}\nharness: the run took longer than {RUN_TIMEOUT_S} s and was stopped"
    return done.code, done.output


def summarise(record: dict) -> dict:
    """From one repeated run's conformance.json: the ids carried, and those whose verdict changed."""
    repeats = record.get("repeats") or {}
    ids = repeats.get("ids") or {}
    unstable = {rid: entry["verdicts"] for rid, entry in ids.items() if not entry["stable"]}
    return {"runs": repeats.get("runs", 1), "ids": len(ids), "stable": len(ids) - len(unstable),
            "unstable": {rid: Stability(tuple(v)).summary() for rid, v in unstable.items()},
            "verdicts": {rid: entry["verdicts"][0] for rid, entry in ids.items() if entry["stable"]}}


def measure(names: list[str], repeat: int, busy: bool, reports_dir: Path, workers: str, extra: list[str],
            log, reference: bool = True, target: list[str] = ()) -> dict:
    chosen = targets(names, reference)
    out = reports_dir / "stability"
    record: dict = {"repeat": repeat, "busy": busy, "cpus": available_cpus(), "workers": workers,
                    "pytest_args": extra, "run_options": list(target),
                    "date": time.strftime("%Y-%m-%d"), "targets": {}}
    started = time.monotonic()
    with busy_cores(busy, RUN_TIMEOUT_S * len(chosen)) as loops:
        log(f"harness stability: {len(chosen)} target(s), {repeat} runs each, "
            f"{f'{len(loops)} busy loop(s)' if busy else 'machine otherwise idle'}")
        for defect in chosen:
            name = defect.name if defect is not None else "reference"
            reports = out / f"{'busy' if busy else 'idle'}-{name}"
            began = time.monotonic()
            code, output = harness_run(run_args(defect, repeat, reports, workers, extra, target))
            reports.mkdir(parents=True, exist_ok=True)
            (reports / "output.txt").write_text(output)
            path = reports / "conformance.json"
            if not path.is_file() or code not in (0, 1):
                entry = {"exit": code, "error": output.strip().splitlines()[-1:]}
            else:
                entry = {"exit": code, **summarise(json.loads(path.read_text()))}
            entry["seconds"] = round(time.monotonic() - began, 1)
            record["targets"][name] = entry
            log("  " + line(name, entry))
    record["seconds"] = round(time.monotonic() - started, 1)
    return record


def line(name: str, entry: dict) -> str:
    if "error" in entry:
        return f"{name:<34} ERROR (exit {entry['exit']}): {' '.join(entry['error'])}"
    unstable = "; ".join(f"{rid}: {counts}" for rid, counts in entry["unstable"].items())
    return (f"{name:<34} {entry['stable']}/{entry['ids']} ids the same in {entry['runs']} of {entry['runs']} runs"
            f" ({entry['seconds']:.0f} s)" + (f"; changed: {unstable}" if unstable else ""))


def main(names: list[str], repeat: int, busy: bool, reports_dir: Path, workers: str = "auto",
         extra: list[str] = (), reference: bool = True, target: list[str] = ()) -> int:
    log = lambda text: print(text, flush=True)  # noqa: E731
    try:
        record = measure(names, repeat, busy, reports_dir, workers, list(extra), log, reference, list(target))
    except ValueError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "stability.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written: {path} ({record['seconds']} s)")
    if any("error" in e for e in record["targets"].values()):
        return 2
    return 1 if any(e["unstable"] for e in record["targets"].values()) else 0
