"""voice-harness explore: generated sessions (typed and spoken turns, function calls in both orders of their
response.done, audio replies, unknown server events) and upstream timings against a proxy, every session judged by
the invariants, ORD-7, TURN-1 and FN-1 (explore_model.JUDGES); a violation is shrunk (by Hypothesis) to one minimal
session and written as a reproducer.

Sessions take real time (the upstream's delays), so several Hypothesis searches run at once, one per worker
thread, each example one session; their sessions share the runner's lanes (explore_runner). The first worker to
see a violation of an id not reported yet claims it: its example fails and Hypothesis shrinks that session (each
candidate run SHRINK_TRIES times, red only when red every time), while the other workers pause, so that the
candidates run as a replay will. Hypothesis has no time budget: at the budget each search's next example raises
SkipTest, which ends the run without counting as a failure; a shrink stops SHRINK_BUDGET_S after its violation
was found; a worker whose run ended before the budget (max_examples, or a shrink done) starts a new run, its
seed derived from --seed. The reproducer is the smallest failing session that is red in every one of
REPLAY_TRIES replays alone.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import os
import shutil
import signal
import sys
import threading
import time
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from voice_harness.mock_upstream.scenario import ScenarioError, from_toml

from voice_harness import options
from voice_harness import paths
from voice_harness.targets import profiles, run_config
from voice_harness.errors import EnvironmentProblem, UsageProblem
from voice_harness.wire import redaction

if TYPE_CHECKING:   # imported where used: `voice-harness` builds this command's parser on every run
    from voice_harness.tools.explore_model import Session
    from voice_harness.tools.explore_runner import Runner, SessionResult

DEFAULT_BUDGET_S = 60.0
SHRINK_BUDGET_S = 45.0      # per violation, from the moment it was found (never more than the budget)
PROGRESS_S = 5.0
REPLAY_TRIES = 3            # a timing race may need a few runs to show again
SHRINK_TRIES = 3            # runs of each shrink candidate, at the same time
CANDIDATES_KEPT = 12        # failing sessions of a shrink kept for the choice of the reproducer
CANDIDATES_CONFIRMED = 8    # of which the smallest few are replayed alone before the search's own
MAX_LANES = 4
WORKERS = 12                # Hypothesis searches at the same time, one session each at a time
# Sessions per Hypothesis run. Hypothesis starts a run with a tenth of them (at most 50) kept small: a small
# count keeps that start short; a run that ends before the budget is followed by the next (its seed derived).
EXAMPLES_PER_RUN = 100
SHUTDOWN_S = 5.0            # for the workers to end after Ctrl-C


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                        help=f"seconds of generated sessions (default {DEFAULT_BUDGET_S:g}); a violation found is "
                             f"shrunk for at most as long again (at most {SHRINK_BUDGET_S:g} s)")
    parser.add_argument("--seed", type=int, help="Hypothesis seed, for a reproducible search (default: random)")
    parser.add_argument("--defect", help="switch on a known defect of the reference proxy")
    parser.add_argument("--variant", choices=options.VARIANTS, help="the reference proxy's feature-minimal variant")
    parser.add_argument("--proxy-cmd", help="start the proxy with this command; needs {port}, may use {upstream_url}")
    parser.add_argument("--reports-dir", default=str(paths.default_reports()),
                        help="explore.json and explore/<ID>-<n>/ reproducers go here (default reports/)")
    parser.add_argument("--replay", metavar="DIR", help="run the one session of a reproducer folder and judge it")


class ViolationFound(AssertionError):
    """A generated session broke a requirement; one subclass per id, so Hypothesis shrinks each id on its own."""


_VIOLATION_TYPES: dict[str, type[ViolationFound]] = {}


def violation_type(req: str) -> type[ViolationFound]:
    if req not in _VIOLATION_TYPES:
        _VIOLATION_TYPES[req] = type(f"{req.replace('-', '_')}_Violation", (ViolationFound,), {})
    return _VIOLATION_TYPES[req]


@dataclass
class Finding:
    req: str
    reason: str
    result: SessionResult
    folder: Path | None = None
    command: str = ""
    reproduced: str = ""
    # Sessions that showed the id while shrinking, smallest last (the search's own first, then the shrink's).
    candidates: list[Session] = field(default_factory=list)


class _Run:
    """One Hypothesis run of one worker: the id it shrinks, once one was found, and its smallest failing session."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.found_at = 0.0
        self.best: Finding | None = None
        self.steady = False      # some shrink candidate showed the id in every one of its SHRINK_TRIES runs
        self.error: BaseException | None = None


class Exploration:
    """WORKERS threads, each a Hypothesis search of its own (one session per example, seeds derived from the seed
    and the worker's number), their sessions running at the same time on the runner's lanes. The first worker to
    see a violation of an id nobody reported yet claims the id and shrinks it; the others pause meanwhile."""

    def __init__(self, runner: Runner, seed: int, budget_s: float, storage: Path, workers: int = None,
                 out=sys.stdout):
        self.runner, self.seed, self.budget_s, self.storage, self.out = runner, seed, budget_s, storage, out
        self.workers = workers or WORKERS
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.shrink_budget_s = min(SHRINK_BUDGET_S, budget_s)
        self.sessions = 0
        self.problems = 0
        self.found: dict[str, Finding] = {}
        self.claimed: dict[str, _Run] = {}
        # Ids whose session showed them once but never again in a shrink: the search looks on for a steadier one.
        self.unsteady: dict[str, Finding] = {}
        self.lock = threading.Lock()
        self.shrinks_done = threading.Condition(self.lock)
        # Hypothesis is not safe to run in several threads at once (its caches): a worker holds this lock while
        # Hypothesis generates and shrinks, and lets go of it while its session runs.
        self.hypothesis_lock = threading.Lock()
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        """Search until the budget is spent and every claimed id is shrunk; KeyboardInterrupt stops the workers."""
        from hypothesis.configuration import set_hypothesis_home_dir

        # No Hypothesis directory in the user's working directory (it caches there even without a database).
        set_hypothesis_home_dir(self.storage)
        threads = [threading.Thread(target=self._worker, args=(i,), name=f"explore-{i}", daemon=True)
                   for i in range(self.workers)]
        for thread in threads:
            thread.start()
        last = time.monotonic()
        try:
            while any(t.is_alive() for t in threads):
                time.sleep(0.2)
                if time.monotonic() - last >= PROGRESS_S:
                    last = time.monotonic()
                    self._progress()
        except KeyboardInterrupt:
            self.stopping.set()
            end = time.monotonic() + SHUTDOWN_S
            for thread in threads:
                thread.join(max(0.0, end - time.monotonic()))
            raise
        if self.errors:
            raise self.errors[0]

    def findings(self) -> list[Finding]:
        """The violations found, in the order they were; an id seen only in unsteady sessions comes last."""
        with self.lock:
            return list(self.found.values()) + [f for req, f in self.unsteady.items() if req not in self.found]

    def _worker(self, index: int) -> None:
        number = 0
        try:
            while not self.stopping.is_set() and time.monotonic() < self.deadline:
                self._one_run(derived_seed(self.seed, index, number))
                number += 1
        except BaseException as exc:  # the harness's own failure: stop every worker, surface it
            self.errors.append(exc)
            self.stopping.set()

    def _one_run(self, seed: int) -> None:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as with_seed

        from voice_harness.tools import explore_model

        run = _Run()

        @settings(max_examples=EXAMPLES_PER_RUN, database=None, deadline=None, derandomize=False,
                  print_blob=False, report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
                  phases=(Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
        @with_seed(seed)
        @given(explore_model.sessions())
        def probe(session: Session) -> None:
            self._probe(session, run)

        try:
            with self.hypothesis_lock:
                probe()
        except unittest.SkipTest:
            pass
        except ViolationFound:    # the shrunk failure: run.best holds its session
            pass
        except BaseException:
            # Hypothesis's report of a failure that did not show again on its final replay (a timing race): the
            # smallest failing session is in run.best all the same.
            if run.best is None and run.error is None:
                raise
        if run.error is not None:
            raise run.error
        if run.target is not None:
            steady = run.steady or time.monotonic() >= self.deadline or self.stopping.is_set()
            with self.lock:
                self.claimed.pop(run.target, None)
                (self.found if steady else self.unsteady)[run.target] = run.best
                self.shrinks_done.notify_all()
            if steady:
                self._say(f"{run.target}: shrunk in {time.monotonic() - run.found_at:.0f} s to: "
                          f"{run.best.result.session.describe()}")
            else:
                self._say(f"{run.target}: its session did not show it again in {SHRINK_TRIES} runs (a timing race); "
                          f"searching on for a steadier one")

    def _wait_for_no_shrink(self) -> bool:
        """Searchers pause while a shrink runs, so that its candidates run as a replay will: without the load of
        a dozen other sessions, which hides or shows a timing race. False when the search is over meanwhile."""
        with self.shrinks_done:
            while self.claimed:
                if self.stopping.is_set() or time.monotonic() >= self.deadline:
                    return False
                self.shrinks_done.wait(0.5)
        return not self.stopping.is_set() and time.monotonic() < self.deadline

    def _open(self, req: str) -> bool:
        return req not in self.found and req not in self.claimed

    def _probe(self, session: Session, run: _Run) -> None:
        """One example: run the session (without the Hypothesis lock, so that the workers' sessions overlap) and
        fail the example when it shows the run's id."""
        self.hypothesis_lock.release()
        try:
            failure = self._run_session(session, run)
        finally:
            self.hypothesis_lock.acquire()
        if failure is not None:
            raise violation_type(run.target)(failure)

    def _run_session(self, session: Session, run: _Run) -> str | None:
        """The reason of the run's id in this session, or None; SkipTest when the run must end."""
        now = time.monotonic()
        if self.stopping.is_set() or run.target is None and now >= self.deadline or \
                run.target is not None and now >= run.found_at + self.shrink_budget_s:
            raise unittest.SkipTest("budget spent")
        if run.target is None and not self._wait_for_no_shrink():
            raise unittest.SkipTest("budget spent")
        target = run.target
        stop_on = (lambda found: any(v.req == target for v in found)) if target else \
            (lambda found: any(self._open(v.req) for v in found))
        try:
            # While shrinking, each candidate runs SHRINK_TRIES times at once and fails only when every run
            # shows the id: the shrink keeps to sessions that fail reliably, not to a lucky timing race.
            results = self.runner.run_batch([session] * (SHRINK_TRIES if target else 1), stop_on)
        except Exception as exc:      # the harness's own failure: end the run and surface it, never shrink it
            run.error = exc
            raise unittest.SkipTest("harness error") from None
        reds = [r for r in results if any(v.req == target for v in r.violations)]
        run.steady = run.steady or bool(target) and len(reds) == len(results)
        result = reds[0] if target and len(reds) == len(results) else results[0]
        with self.lock:
            self.sessions += len(results)
            self.problems += sum(bool(r.problem) for r in results)
            if run.target is None:
                new = [v for v in result.violations if self._open(v.req)]
                if new:
                    run.target, run.found_at = new[0].req, time.monotonic()
                    self.claimed[run.target] = run
                    self._say(f"{run.target}: found ({new[0].reason}); shrinking")
        mine = [v for v in result.violations if v.req == run.target]
        if not mine:
            return None
        candidates = run.best.candidates if run.best else []
        if session not in candidates:
            candidates = candidates[:1] + candidates[1:][-CANDIDATES_KEPT:] + [session]
        run.best = Finding(mine[0].req, mine[0].reason, result, candidates=candidates)
        return mine[0].reason

    def _progress(self) -> None:
        with self.lock:
            found, shrinking = sorted(self.found), sorted(self.claimed)
        elapsed = time.monotonic() - self.started
        self._say(f"{elapsed:.0f} s: {self.sessions} sessions ({self.rate():.1f}/s), violations: "
                  f"{', '.join(found) or 'none'}" + (f"; shrinking {', '.join(shrinking)}" if shrinking else ""))

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sessions / elapsed if elapsed > 0 else 0.0

    def _say(self, line: str) -> None:
        print(f"explore: {line}", file=self.out, flush=True)


def derived_seed(seed: int, worker: int, number: int) -> int:
    """The seed of a worker's run `number`, reproducible from --seed."""
    return random.Random(f"{seed}:{worker}:{number}").randrange(2 ** 63)


# ----------------------------------------------------------------------------------------------- reproducers

def replay_command(folder: Path, defect: str | None, variant: str | None, proxy_cmd: str | None) -> str:
    """The command that replays a reproducer; a key in the proxy command (a leading OPENAI_API_KEY=... word, or one
    of the environment's keys) is redacted, since the reproducer is a report."""
    parts = ["python", "-m", "voice_harness", "explore", "--replay", str(folder)]
    for option, value in (("--defect", defect), ("--variant", variant), ("--proxy-cmd", proxy_cmd)):
        if value:
            parts += [option, value]
    assignments = profiles.split_command(proxy_cmd)[0] if proxy_cmd else {}
    return redaction.redact(shlex.join(parts), {**os.environ, **assignments})


def write_reproducer(folder: Path, finding: Finding, command: str) -> None:
    """scenario.toml, script.json, violation.json, command.txt and the session's timeline (HTML and JSON)."""
    from voice_harness.tools import explore_model
    from voice_harness.reports import timeline_view

    folder.mkdir(parents=True, exist_ok=True)
    session = finding.result.session
    (folder / "scenario.toml").write_text(explore_model.scenario_toml(session.scenario))
    (folder / "script.json").write_text(json.dumps(session.script.to_json(), indent=2) + "\n")
    (folder / "violation.json").write_text(json.dumps({
        "id": finding.req, "reason": finding.reason, "session": session.describe(), "command": command},
        indent=2) + "\n")
    (folder / "command.txt").write_text(command + "\n")
    timeline = finding.result.timeline
    anchors = next((list(v.anchors) for v in finding.result.violations if v.req == finding.req), [])
    timeline_view.write(folder, "timeline", timeline.frames, timeline.origin, [a for a in anchors if a],
                        f"{finding.req}: {finding.reason}")


def load_reproducer(folder: Path) -> tuple[Session, str | None]:
    """The session of a reproducer folder and the id it was written for; UsageProblem when it is not one."""
    from voice_harness.tools.explore_model import ModelError, Session, script_from_json

    if not folder.is_dir():
        raise UsageProblem(f"--replay {folder}: not a directory")
    for name in ("scenario.toml", "script.json"):
        if not (folder / name).is_file():
            raise UsageProblem(f"--replay {folder}: no {name} (a reproducer folder holds scenario.toml and "
                               f"script.json)")
    try:
        scenario = from_toml(folder / "scenario.toml")
        script = script_from_json(json.loads((folder / "script.json").read_text()))
    except (ScenarioError, ModelError) as exc:
        raise UsageProblem(f"--replay {folder}: {exc}") from None
    except ValueError as exc:
        raise UsageProblem(f"--replay {folder}/script.json: not JSON: {exc}") from None
    expected = None
    try:
        expected = json.loads((folder / "violation.json").read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        pass
    return Session(script, scenario), expected


def choose_reproducer(runner: Runner, finding: Finding, out=sys.stdout) -> None:
    """Choose the reproducer: the smallest session of the shrink that shows the id in every one of REPLAY_TRIES
    runs alone (as --replay runs it), trying the last few of the shrink and then the search's own; else the one
    that showed it most often. The finding takes that session and the timeline of its first red run."""
    req = finding.req
    tried, best = [], (-1, None, [])
    for session in list(reversed(finding.candidates[-CANDIDATES_CONFIRMED:])) + finding.candidates[:1]:
        if session in tried:
            continue
        tried.append(session)
        reds = [r for r in (runner.run_batch([session], lambda found: any(v.req == req for v in found))[0]
                            for _ in range(REPLAY_TRIES)) if any(v.req == req for v in r.violations)]
        if len(reds) > best[0]:
            best = (len(reds), session, reds)
        if len(reds) == REPLAY_TRIES:
            break
    count, session, reds = best
    if reds:
        finding.result = reds[0]
        finding.reason = next(v.reason for v in reds[0].violations if v.req == req)
    finding.reproduced = f"red in {count} of {REPLAY_TRIES} replays" + (
        "" if count == REPLAY_TRIES else ": a timing race, replay it a few times")
    print(f"explore: {req}: reproducer {finding.reproduced}", file=out, flush=True)


def replay(runner: Runner, folder: Path, session: Session, expected: str | None, out=sys.stdout) -> int:
    from voice_harness.tools.explore_model import describe_scenario

    print(f"explore: replaying {folder} (up to {REPLAY_TRIES} runs: a timing race may not show every time)",
          file=out)
    for line in session.script.describe():
        print(f"  client: {line}", file=out)
    print(f"  upstream: {describe_scenario(session.scenario)}", file=out)
    others: dict[str, str] = {}
    for run in range(1, REPLAY_TRIES + 1):
        result = runner.run_batch([session])[0]
        mine = [v for v in result.violations if expected is None or v.req == expected]
        others.update((v.req, v.reason) for v in result.violations if v not in mine and v.req not in others)
        if mine:
            violation = mine[0]
            print(f"replay {run}/{REPLAY_TRIES}: {violation.req} red: {violation.reason}", file=out)
            print(result.timeline.render(result.timeline.around(*violation.anchors),
                                         highlight=[a for a in violation.anchors if a]), file=out)
            return 1
        print(f"replay {run}/{REPLAY_TRIES}: {expected or 'every id'} held"
              + (f" ({result.problem})" if result.problem else ""), file=out)
    if others:
        print(f"explore: {expected} held, but {', '.join(others)} went red: {next(iter(others.values()))}",
              file=out)
        return 1
    print(f"explore: {expected or 'the session'} holds in {REPLAY_TRIES} runs", file=out)
    return 0


# ------------------------------------------------------------------------------------------------------ main

def main(args: argparse.Namespace) -> int:
    try:
        options = _validate(args)
    except UsageProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    profile, reports, replay_session = options
    from voice_harness.tools.explore_runner import Runner

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        # A shrink runs its candidate SHRINK_TRIES times at once, each on a lane (proxy process) of its own.
        lanes = 1 if args.replay else max(SHRINK_TRIES, min(MAX_LANES, run_config.available_cpus()))
        with Runner(profile, args.defect, args.variant, lanes, reports / "explore" / "logs") as runner:
            if replay_session is not None:
                return replay(runner, Path(args.replay), *replay_session)
            return _explore(runner, args, reports)
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: explore interrupted; proxies stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _validate(args: argparse.Namespace):
    from voice_harness.targets.defect_registry import load as load_defects

    DEFECTS = load_defects()
    if not args.budget > 0:
        raise UsageProblem(f"--budget must be a positive number of seconds, not {args.budget:g}")
    if args.seed is not None and args.seed < 0:
        raise UsageProblem("--seed must be a number >= 0")
    if args.defect is not None and args.defect not in DEFECTS:
        raise UsageProblem(f"unknown defect {args.defect!r}: use one of {', '.join(sorted(DEFECTS))}")
    profile = profiles.with_overrides(profiles.load("reference"), proxy_cmd=args.proxy_cmd)
    if args.defect and not profile.can_switch_defects:
        raise UsageProblem("--defect switches a defect of the reference proxy: not with --proxy-cmd")
    if args.variant and not profile.can_switch_variants:
        raise UsageProblem("--variant chooses a variant of the reference proxy: not with --proxy-cmd")
    replay_session = load_reproducer(Path(args.replay)) if args.replay else None
    reports = Path(args.reports_dir)
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageProblem(f"--reports-dir {reports}: {exc.strerror}") from None
    return profile, reports, replay_session


def _explore(runner: Runner, args: argparse.Namespace, reports: Path) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    what = f"defect {args.defect}" if args.defect else "no defect"
    print(f"explore: seed {seed}, budget {args.budget:g} s, {len(runner.lanes)} lanes, "
          f"{args.proxy_cmd or 'reference proxy'}{' (variant ' + args.variant + ')' if args.variant else ''}, "
          f"{what}", flush=True)
    exploration = Exploration(runner, seed, args.budget, reports / "explore" / ".hypothesis")
    interrupted = False
    try:
        exploration.run()
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.monotonic() - exploration.started
    rate = exploration.sessions / elapsed if elapsed > 0 else 0.0
    findings = exploration.findings()
    folder_root = reports / "explore"
    _clear_old_reproducers(folder_root)
    for number, finding in enumerate(findings, 1):
        finding.folder = folder_root / f"{finding.req}-{number}"
        finding.command = replay_command(finding.folder, args.defect, args.variant, args.proxy_cmd)
        if interrupted:
            finding.reproduced = "not replayed: interrupted"
        else:
            choose_reproducer(runner, finding)
        write_reproducer(finding.folder, finding, finding.command)
    record = {"seed": seed, "sessions": exploration.sessions, "sessions_per_s": round(rate, 2),
              "elapsed_s": round(elapsed, 1), "budget_s": args.budget, "lanes": len(runner.lanes),
              "defect": args.defect, "variant": args.variant, "proxy_cmd": args.proxy_cmd,
              "sessions_not_as_scripted": exploration.problems, "interrupted": interrupted,
              "violations": [{"id": f.req, "reason": f.reason, "reproducer": str(f.folder), "command": f.command,
                              "replayed": f.reproduced, "session": f.result.session.describe()}
                             for f in findings]}
    (reports / "explore.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"explore: {exploration.sessions} sessions in {elapsed:.1f} s ({rate:.1f} sessions/s), "
          f"{len(findings)} violation(s); {reports / 'explore.json'}", flush=True)
    for finding in findings:
        print(f"  {finding.req}: {finding.reason}\n    reproducer: {finding.folder} ({finding.reproduced})\n"
              f"    replay: {finding.command}", flush=True)
    if interrupted:
        raise KeyboardInterrupt
    return 1 if findings else 0


def _clear_old_reproducers(folder_root: Path) -> None:
    """Reproducers of an earlier run would read as this run's: remove them (only folders explore writes)."""
    if not folder_root.is_dir():
        return
    for folder in folder_root.iterdir():
        if folder.is_dir() and (folder / "script.json").is_file() and (folder / "scenario.toml").is_file():
            shutil.rmtree(folder, ignore_errors=True)
