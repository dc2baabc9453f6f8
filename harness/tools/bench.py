"""voice-harness bench: what the harness costs on this machine, in nine groups of figures, printed as a
table and written to reports/bench.json.

1. suite: wall time of the full suite selection, serial, with -n 2 and with -n auto;
2. fixed: mock start, proxy start, browser launch, page load, per-test setup and teardown;
3. overhead: TTFR of the canary minus the mock's own scripted reply latency, over N runs;
4. precision: the mock's scripted delays against the delays on its own record;
5. load: concurrent component-protocol sessions (wire clients) through the reference proxy and the mock;
6. voice: the voice canary (a spoken WAV as the microphone): time to the first reply audio, and its cost;
7. unit: the project's unit tier (`pytest tests -m 'not e2e' -n 2`) in the source checkout;
8. fresh-clone: set-up plus `make conformance` on a fresh clone of the checkout;
9. ci: `make test` on that clone (CI's job; only when asked for: half an hour on 2 cores).
The last three need the harness's source checkout (tools/bench_gate.py).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from voice_harness.mock_upstream.scenario import Scenario

from voice_harness.tools import bench_gate, bench_probes
from voice_harness.tools.bounded import run_bounded
from voice_harness.judging.metrics import summarise

from voice_harness.invocation import DEFAULT_BENCH_GROUPS as GROUPS

# The targets on the 2-core machine; the table says met or missed for each.
RUN_TIMEOUT_S = 900
RUN_GRACE_S = 30   # for a run stopped at its bound to end its workers, proxies and browsers
TARGETS = {"suite_n2_s": 35.0, "canary_test_s": 1.5, "overhead_p95_ms": 50.0, "delay_error_p95_ms": 5.0,
           "sessions_zero_errors": 200, "unit_tier_s": 30.0, "fresh_clone_conformance_s": 90.0, "ci_s": 900.0}


def scripted_reply_latency_s(scenario: Scenario) -> float:
    """What the mock itself waits between a user item and the assistant item's completion, on the canary's
    path: the item's confirmation, then from response.create the reply latency and one delta interval per
    chunk plus the one before the done events."""
    return (scenario.confirm_latency_ms + scenario.reply_latency_ms
            + (scenario.reply_chunks + 1) * scenario.delta_interval_ms) / 1000


def harness_run(reports: Path, *pytest_args: str, env: dict | None = None) -> tuple[int, float, str]:
    """`harness run`, bounded (tools.bounded: its browser and proxy go with it on a timeout)."""
    started = time.monotonic()
    done = run_bounded([sys.executable, "-m", "voice_harness", "run", "--reports-dir", str(reports), "--", "-q",
                        *pytest_args], RUN_TIMEOUT_S, env, interrupt_grace=RUN_GRACE_S)
    wall = round(time.monotonic() - started, 2)
    if done.code is None:
        return -1, wall, done.output + f"\n(killed after {RUN_TIMEOUT_S} s)"
    return done.code, wall, done.output


def suite(work: Path, log) -> tuple[dict, dict]:
    """Wall time of the whole selection, three ways; and the serial run's per-test phase durations."""
    figures = {}
    phases_path = work / "phases.json"
    for label, extra in (("serial", ["-n", "0"]), ("n2", ["-n", "2"]), ("n_auto", ["-n", "auto"])):
        env = {**os.environ, "HARNESS_PHASE_TIMES": str(phases_path)} if label == "serial" else None
        plugin = ["-p", "voice_harness.plugin.phase_times"] if label == "serial" else []
        code, wall, out = harness_run(work / f"suite-{label}", *extra, *plugin, env=env)
        tail = out.strip().splitlines()[-1] if out.strip() else ""
        figures[label] = {"wall_s": wall, "exit": code, "result": tail.strip("= ")}
        log(f"  suite {label:<7} {wall:7.1f} s  exit {code}  {tail.strip('= ')}")
    phases = json.loads(phases_path.read_text()) if phases_path.is_file() else {}
    return figures, phases


def per_test_costs(phases: dict) -> dict:
    """Setup and teardown per test, browser tests apart from wire-client ones; the first test (which pays for
    the session's start) apart from the rest."""
    rows = list(phases.items())
    first = rows[0] if rows else None
    rest = rows[1:]
    out = {"first_test_setup_s": first[1].get("setup") if first else None}
    for kind, chosen in (("browser", [r for r in rest if "[chromium" in r[0]]),
                         ("wire", [r for r in rest if "[chromium" not in r[0]])):
        out[f"{kind}_setup_s"] = summarise([p.get("setup", 0) for _, p in chosen])
        out[f"{kind}_teardown_s"] = summarise([p.get("teardown", 0) for _, p in chosen])
        out[f"{kind}_test_total_s"] = summarise([sum(p.values()) for _, p in chosen])
    canary = [sum(p.values()) for n, p in rest if "test_agent_replies_to_the_first_text_message" in n]
    out["canary_test_s"] = summarise(canary)
    return out


def overhead(work: Path, runs: int, log) -> dict:
    """TTFR of `runs` canary tests minus the default scenario's scripted reply latency."""
    reports = work / "overhead"
    code, wall, _ = harness_run(reports, "-k", "test_agent_replies_to_the_first_text_message", "--count", str(runs),
                                "-n", "0")
    record = json.loads((reports / "metrics.json").read_text()) if (reports / "metrics.json").is_file() else {}
    ttfr = [r["ttfr_s"] for r in record.get("canary_runs", []) if r.get("ttfr_s") is not None]
    scripted = scripted_reply_latency_s(Scenario())
    canary_tests = _canary_test_times(reports / "junit.xml")
    log(f"  overhead: {len(ttfr)} canary runs in {wall:.1f} s, exit {code}")
    return {"runs": len(ttfr), "exit": code, "scripted_reply_latency_ms": round(scripted * 1000, 3),
            "ttfr_ms": summarise([round(v * 1000, 3) for v in ttfr]),
            "overhead_ms": summarise([round((v - scripted) * 1000, 3) for v in ttfr]),
            "canary_test_s": summarise(canary_tests[1:])}


VOICE_RUNS = 5


def voice(work: Path, log, runs: int = VOICE_RUNS) -> dict:
    """The voice canary (CANARY-2) `runs` times: what one costs (its test time, the browser with a microphone
    up), and its time to the first reply audio, from the first microphone frame and from the end of speech
    the upstream heard (speech_stopped)."""
    reports = work / "voice"
    code, wall, _ = harness_run(reports, "-k", "test_agent_replies_to_the_first_spoken_utterance", "--count",
                                str(runs), "-n", "0", "--timelines", "all")
    from_mic, from_speech_end = [], []
    for path in sorted((reports / "timelines").glob("*spoken_utterance*-call.json")):
        mic, stopped, audio = voice_marks(json.loads(path.read_text())["frames"])
        if audio is not None and mic is not None:
            from_mic.append(round(audio - mic, 3))
        if audio is not None and stopped is not None:
            from_speech_end.append(round((audio - stopped) * 1000, 1))
    log(f"  voice: {len(from_mic)} voice canary runs in {wall:.1f} s, exit {code}")
    return {"runs": len(from_mic), "exit": code, "first_reply_audio_from_mic_s": summarise(from_mic),
            "first_reply_audio_after_speech_end_ms": summarise(from_speech_end),
            "voice_canary_test_s": summarise(_canary_test_times(reports / "junit.xml")[1:])}


def voice_marks(frames: list[dict]) -> tuple[float | None, float | None, float | None]:
    """(first microphone frame to the proxy, the upstream's speech_stopped, first reply audio to the app)."""
    def first(leg, arrow, kind=None, type_=None):
        return next((f["t"] for f in frames if f["leg"] == leg and f["arrow"] == arrow
                     and (kind is None or f["kind"] == kind) and (type_ is None or f.get("type") == type_)), None)
    return (first("A", "->", kind="binary"), first("B", "<-", type_="input_audio_buffer.speech_stopped"),
            first("A", "<-", kind="binary"))


def _canary_test_times(junit: Path) -> list[float]:
    import xml.etree.ElementTree as ET

    if not junit.is_file():
        return []
    return [float(case.get("time", 0)) for case in ET.parse(junit).iter("testcase")]


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


def verdicts(record: dict) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met/missed) rows for the targets whose figures were measured."""
    rows = []

    def row(name, value, target, unit, smaller_is_better=True, exit_code=0):
        if value is None:
            return
        met = value < target if smaller_is_better else value >= target
        verdict = f"INVALID (run exit {exit_code})" if exit_code != 0 else "met" if met else "MISSED"
        rows.append((name, f"{value:.4g} {unit}", f"{'<' if smaller_is_better else '>='} {target:g} {unit}",
                     verdict))

    n2 = record.get("suite", {}).get("wall_time", {}).get("n2", {})
    row("full suite, -n 2", n2.get("wall_s"), TARGETS["suite_n2_s"], "s", exit_code=n2.get("exit", 0))
    overhead_fig = record.get("overhead", {})
    row("one canary test (p50, browser up)", overhead_fig.get("canary_test_s", {}).get("p50"),
        TARGETS["canary_test_s"], "s", exit_code=overhead_fig.get("exit", 0))
    row("harness overhead p95", overhead_fig.get("overhead_ms", {}).get("p95"),
        TARGETS["overhead_p95_ms"], "ms", exit_code=overhead_fig.get("exit", 0))
    row("mock delay |error| p95", record.get("precision", {}).get("abs_error_ms", {}).get("p95"),
        TARGETS["delay_error_p95_ms"], "ms")
    for key, name in (("unit", "unit tier (-m 'not e2e'), -n 2"),
                      ("fresh_clone", "set-up + make conformance, fresh clone"),
                      ("ci", "make test (CI), fresh clone")):
        figure = record.get(key, {})
        row(name, figure.get("wall_s"), TARGETS[{"unit": "unit_tier_s", "fresh_clone": "fresh_clone_conformance_s",
                                                 "ci": "ci_s"}[key]], "s", exit_code=figure.get("exit", 0))
    load = record.get("load", {})
    if load:
        row("concurrent sessions, zero errors", load.get("max_sustained_with_zero_errors"),
            TARGETS["sessions_zero_errors"], "sessions", smaller_is_better=False)
    return rows


def main(groups: tuple[str, ...], runs: int, reports_dir: Path) -> int:
    log = lambda line: print(line, flush=True)  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    record: dict = {"machine": machine(), "command": "voice-harness bench " + " ".join(
        ([f"--groups {','.join(groups)}"] if groups != GROUPS else []) + ([f"--runs {runs}"] if runs != 20 else []))}
    started = time.monotonic()
    log(f"harness bench: {', '.join(groups)} on {record['machine']['cpus']} cpus (work files in {work})")
    measure = {
        "suite": lambda: _suite_group(record, work, log),
        "fixed": lambda: record.setdefault("fixed", {}).update(bench_probes.fixed_costs()),
        "overhead": lambda: record.__setitem__("overhead", overhead(work, runs, log)),
        "voice": lambda: record.__setitem__("voice", voice(work, log)),
        "precision": lambda: record.__setitem__("precision", bench_probes.delay_precision()),
        "load": lambda: record.__setitem__("load", bench_probes.load()),
        "unit": lambda: record.__setitem__("unit", bench_gate.unit_tier(log)),
        "fresh-clone": lambda: record.__setitem__("fresh_clone", bench_gate.conformance_on_a_fresh_clone(work, log)),
        "ci": lambda: record.__setitem__("ci", bench_gate.ci_on_a_fresh_clone(work, log)),
    }
    failed = []
    reports_dir.mkdir(parents=True, exist_ok=True)
    for group in groups:
        try:
            measure[group]()
            log(f"  {group}: measured")
        except Exception as exc:  # one broken group must not lose the others' figures
            failed.append(group)
            record.setdefault("errors", {})[group] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log(f"  {group}: FAILED: {record['errors'][group]}")
        record["bench_wall_s"] = round(time.monotonic() - started, 1)
        record["targets"] = [dict(zip(("figure", "measured", "target", "verdict"), r)) for r in verdicts(record)]
        (reports_dir / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    for line in table(record):
        print(line)
    print(f"written: {reports_dir / 'bench.json'} ({record['bench_wall_s']} s)")
    if failed:
        print(f"harness: bench could not measure {', '.join(failed)} (see errors in bench.json)", file=sys.stderr)
        return 2
    return 0


def _suite_group(record: dict, work: Path, log) -> None:
    wall, phases = suite(work, log)
    record["suite"] = {"wall_time": wall}
    record.setdefault("fixed", {})["per_test"] = per_test_costs(phases)


def table(record: dict) -> list[str]:
    """The figures a person compares with the targets, one per line."""
    lines = ["", f"{'figure':<44} {'measured':>16}  {'target':>16}  verdict"]
    lines += [f"{f:<44} {m:>16}  {t:>16}  {v}" for f, m, t, v in verdicts(record)]
    fixed = record.get("fixed", {})
    for key in ("mock_start_s", "proxy_start_s", "browser_launch_s"):
        if key in fixed:
            lines.append(f"{key:<44} {fixed[key]:>14.3f} s")
    if "page_load_s" in fixed:
        lines.append(f"{'page_load_s (p50)':<44} {fixed['page_load_s']['p50']:>14.4f} s")
    for key, value in fixed.get("page_cpu_s", {}).items():
        lines.append(f"{'Chromium CPU per test page, ' + key.replace('_', ' '):<44} {value:>14.3f} s")
    for key in ("browser_setup_s", "browser_teardown_s", "wire_setup_s", "wire_teardown_s"):
        value = fixed.get("per_test", {}).get(key, {}).get("p50")
        if value is not None:
            lines.append(f"{key + ' (p50)':<44} {value:>14.4f} s")
    overhead_fig = record.get("overhead", {})
    if overhead_fig:
        ttfr = overhead_fig["ttfr_ms"]
        if ttfr["p50"] is not None:
            lines.append(f"{'TTFR p50 / p95 (ms)':<44} {ttfr['p50']:.1f} / {ttfr['p95']:.1f}"
                         f"  (scripted {overhead_fig['scripted_reply_latency_ms']:g} ms)")
    voice_fig = record.get("voice", {})
    if voice_fig.get("runs"):
        mic, end = voice_fig["first_reply_audio_from_mic_s"], voice_fig["first_reply_audio_after_speech_end_ms"]
        lines.append(f"{'voice: first reply audio from mic p50/p95 (s)':<44} {mic['p50']:.2f} / {mic['p95']:.2f}")
        if end["p50"] is not None:
            lines.append(f"{'voice: ... after speech end p50/p95 (ms)':<44} {end['p50']:.0f} / {end['p95']:.0f}")
        cost = voice_fig["voice_canary_test_s"]
        if cost["p50"] is not None:
            lines.append(f"{'voice canary test p50 (s)':<44} {cost['p50']:>14.2f} s")
    for level, fig in record.get("load", {}).get("levels", {}).items():
        latency = fig["turn_latency_s"]
        turn = f"{latency['p50']:.3f} / {latency['p95']:.3f}" if latency["p50"] is not None else "no turn completed"
        lines.append(f"{'load ' + level + ' sessions: errors, turn p50/p95 (s)':<44} {fig['errors']:>4}, {turn}")
    return lines
