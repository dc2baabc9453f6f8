"""The pytest plugin: options, markers, requirement bookkeeping, conformance reports, exit status."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import allure
import pytest
from websockets.exceptions import ConnectionClosed

from voice_harness.mock_upstream.scenario import ScenarioError

from voice_harness import options
from voice_harness.plugin import attachments, overrides
from voice_harness.reports import run_files
from voice_harness.judging import attribution, catalogue, invariants, metrics
from voice_harness.targets import browser, preflight, run_config
from voice_harness.reports import allure_params, report, timeline_view
from voice_harness.judging.checks import ConformanceFailure, Inconclusive, NotExercised
from voice_harness import paths
from voice_harness.errors import EnvironmentProblem, HarnessFault, UsageProblem
from voice_harness.plugin.keys import (CONSOLE, DEATH_REPORTED, EARLIER_DEATH, FAILED, FAULTS, PROXY, RECORDING,
                                       STALLS, TRACE, VERDICT)
from voice_harness.judging.repeats import repeat_count, with_counts
from voice_harness.judging.verdicts import CaseResult, exit_status, first_error, scenario_expectation, verdicts

# The run's status in conformance.json.
COMPLETE, INTERRUPTED, ENVIRONMENT_ERROR = "complete", "interrupted", "environment error"

pytest_plugins = ["voice_harness.plugin.fixtures"]


MARKERS = (
    "req(*ids): conformance requirement ids (harness/judging/requirements.toml) that this test checks",
    "scenario(name=None, **overrides): the mock upstream scenario for this test",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_to_pytest(parser.getgroup("harness", "voice-agent proxy conformance harness"))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)   # before Allure's configure empties its results folder
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    # pytest-playwright's fallback base_url fixture is an instance method, which pytest 9 deprecates;
    # not ours to fix, and not worth a line in every report.
    config.addinivalue_line("filterwarnings",
                            "ignore:Session-scoped fixtures defined as instance methods:pytest.PytestRemovedIn10Warning")
    reports_dir = Path(config.getoption("--reports-dir") or config.invocation_params.dir / "reports")
    # Inert until asked: a run that gives no harness option and collects no suite of the harness (another
    # project's tests) is left alone; a test using the harness's fixtures or markers asks later (collection).
    config.harness_asked = _asked(config)
    # The overrides of other plugins' fixtures go last, so that they win whatever order plugins loaded in.
    config.pluginmanager.register(overrides, "voice_harness.overrides")
    # A run that only looks (collect-only, help) leaves the folder and the last run's reports alone.
    owner = _owns_reports(config)
    if owner:
        _claim_reports(reports_dir)
    config.harness, config.harness_problem, config.harness_late = None, None, False
    try:
        config.harness = run_config.build(
            config.getoption("--profile"), config.getoption("--scenario"), config.getoption("--defect"),
            config.getoption("--harness-strict"), reports_dir, config.getoption("--proxy-cmd"),
            config.getoption("--proxy-url"), config.getoption("--app-url"), config.getoption("--upstream"),
            config.getoption("--variant"), replay_speed=config.getoption("--replay-speed"))
    except (UsageProblem, EnvironmentProblem) as exc:
        if config.harness_asked:
            raise pytest.UsageError(str(exc)) from None
        config.harness_problem = exc   # a run that does not use the harness is not stopped by it (harness_config)
    if owner:
        _prepare_run(config)
    if not _is_worker(config):
        config.pluginmanager.register(Conformance(config), "harness-conformance")
    if config.harness_asked:
        _end_on_sigterm()


def _end_on_sigterm() -> None:
    if threading.current_thread() is threading.main_thread():
        # A terminated run must still tear down its proxy process group.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _owns_reports(config: pytest.Config) -> bool:
    """The run (its controller) owns its reports folder: it asked for the harness and runs tests. A run that only
    looks (collect-only, help) leaves the folder and the last run's reports alone."""
    return not _is_worker(config) and config.harness_asked and not _only_looking(config)


def _claim_reports(reports_dir: Path) -> None:
    """The folder is this run's from here: a second run is refused, and an earlier run's artefacts go (also when
    this run then stops at a usage error: none of them describes it), as `voice-harness run` does."""
    try:
        run_files.claim(reports_dir)
        run_files.clear(reports_dir)
    except EnvironmentProblem as exc:
        pytest.exit(f"harness: {exc}", returncode=2)


def _prepare_run(config: pytest.Config) -> None:
    """What an owning run does once its target is known, before any test: cassettes cleared, pre-flight."""
    if config.harness.real_upstream:
        # This run's cassettes replace the last real-mode run's (a replay, reading them, clears nothing).
        run_files.clear_cassettes(config.harness.reports_dir)
    try:
        preflight.run(config.harness, browser.check_starts)
    except EnvironmentProblem as exc:
        pytest.exit(f"harness: {exc}", returncode=2)   # one line; no test runs, no verdict is written


def _asked_at_collection(config: pytest.Config) -> None:
    """A plain pytest run given no harness option whose tests use the harness's fixtures or markers (a team's own
    test file) asks for the harness only now: it owns its reports folder from here, as a run asked at configure
    does (no conformance.md or proxy log of an earlier run stays beside its files), and says what it tests (the
    default profile: nothing named another target). Under xdist the controller never collects: such a run
    names a harness option (--profile, --proxy-cmd, --reports-dir, ...) to own its folder."""
    config.harness_asked = True
    _end_on_sigterm()
    if not _owns_reports(config):
        return
    reports_dir = Path(config.getoption("--reports-dir") or config.invocation_params.dir / "reports")
    _claim_reports(reports_dir)
    if config.harness is None:
        raise pytest.UsageError(str(config.harness_problem))
    _prepare_run(config)
    config.harness_late = True


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    if not getattr(config, "harness_late", False):
        return []
    profile = config.harness.profile
    return [f"harness: no target given: this run tests profile {profile.name!r} ({profile.description}); name "
            f"yours with --proxy-cmd CMD, --proxy-url URL or --profile PATH",
            f"harness: reports in {config.harness.reports_dir} (an earlier run's conformance files and proxy logs "
            f"there were cleared)"]


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "harness", None) is not None and not _is_worker(config):
        run_files.release(config.harness.reports_dir)


def _asked(config: pytest.Config) -> bool:
    """This run asked for the harness before collection: it was given a harness option (harness run always gives
    --reports-dir), or it collects the harness's suites; it then owns its reports folder. A run of other tests
    (the project's unit tests, a user's own) leaves reports/ alone."""
    if any(config.getoption(name) not in (None, False, default) for name, default in options.given_defaults()):
        return True
    try:
        suites = paths.bundled("suites")
    except EnvironmentProblem:
        return False
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path.is_relative_to(suites):   # the suites or a part of them (not a folder that merely holds them)
            return True
    return False


def _only_looking(config: pytest.Config) -> bool:
    """Collect-only, help and the like run no test: no pre-flight for them."""
    option = config.option
    return bool(getattr(option, "collectonly", False) or getattr(option, "help", False)
                or getattr(option, "markers", False) or getattr(option, "fixtures", False))


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _uses_harness(item: pytest.Item) -> bool:
    """The test has a requirement marker or uses one of the harness's fixtures (not just an override)."""
    if item.get_closest_marker("req") is not None:
        return True
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            module = getattr(fixturedef.func, "__module__", "") or ""
            if module.startswith("voice_harness.") and module != overrides.__name__:
                return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.harness_asked and any(_uses_harness(item) for item in items):
        _asked_at_collection(config)
    known = catalogue.load()
    for item in items:
        ids = [rid for mark in item.iter_markers("req") for rid in mark.args]
        for rid in ids:
            if rid not in known:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {rid!r} in @pytest.mark.req "
                                        f"(ids are defined in harness/judging/requirements.toml)")
        if ids:
            item.user_properties.append(("req", ",".join(dict.fromkeys(ids))))
    wanted = config.getoption("--req")
    if wanted:
        selected = set(wanted.split(","))
        unknown = selected - set(known)
        if unknown:
            raise pytest.UsageError(f"--req: unknown requirement id {sorted(unknown)[0]!r}")
        keep = [i for i in items if selected & {r for m in i.iter_markers("req") for r in m.args}]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Allure parameters that keep every pytest case one readable result (allure_params); Allure labels from the
    test's requirement: area as parent suite, id as suite, MUST/SHOULD as severity."""
    if item.config.harness_asked and getattr(item.config.option, "allure_report_dir", None):
        callspec = getattr(item, "callspec", None)
        # Given before allure-pytest adds its own after setup: it keeps these, and adds none of the same name.
        for param in allure_params.parameters(callspec.params if callspec else {}, callspec.id if callspec else None):
            allure.dynamic.parameter(param.name, param.value, excluded=param.excluded,
                                     mode=allure.parameter_mode.HIDDEN if param.hidden else None)
    ids = [rid for mark in item.iter_markers("req") for rid in mark.args]
    if not ids:
        return
    req = catalogue.get(ids[0])
    allure.dynamic.parent_suite(req.area)
    allure.dynamic.suite(req.id)
    allure.dynamic.severity(allure.severity_level.CRITICAL if req.level == "MUST" else allure.severity_level.NORMAL)
    for rid in ids:
        allure.dynamic.tag(rid)
        allure.dynamic.label("requirement", rid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    faults = _harness_faults(item) if rep.when == "call" else []
    # A broken tap or mock leaves a recording that cannot convict the proxy of anything.
    violations = _invariant_violations(item) if rep.when == "call" and not faults else []
    # A test without requirement ids is not a conformance check (the project's own tests): pytest's outcome.
    extra = _judge(item, rep, call, violations, faults) if item.get_closest_marker("req") else []
    if rep.when == "call" and item.get_closest_marker("req"):
        extra = _expected_by_scenario(item, rep, call, extra)
    if rep.when == "call":
        item.stash[VERDICT] = dict(extra).get("own", rep.outcome)   # a cassette's header keeps it
    if rep.when == "setup" and EARLIER_DEATH in item.stash:
        test, why = item.stash[EARLIER_DEATH]
        extra.append(("death_of", json.dumps({"test": test, "reason": why})))
        rep.sections.append(("proxy", f"the proxy had exited after {test}, which fails for it: {why}; "
                                      f"started again for this test"))
    if violations:
        extra.append(("invariants", json.dumps({v.req: v.reason for v in violations})))
        if not rep.failed:
            # The test's own requirements held (or could not be judged, or do not apply); its session broke an
            # invariant. The test shows as failed; its own ids keep their outcome.
            if not any(key == "own" for key, _ in extra):
                extra.append(("own", rep.outcome))
            rep.outcome = "failed"
            rep.longrepr = "\n".join(f"{v.req} (invariant, broken in this test's session): {v.reason}"
                                     for v in violations)
    if RECORDING in item.stash:
        timeline = item.stash[RECORDING].timeline()
        if rep.when == "call" and "CANARY-1" in {r for m in item.iter_markers("req") for r in m.args}:
            extra.append(("metrics", json.dumps(metrics.run_figures(timeline))))
        if rep.failed:
            extra.append(("failure_class", json.dumps(metrics.classify(timeline))))
            _attach_failure(item, rep, call, timeline)
        elif rep.when == "call" and item.config.getoption("--timelines") == "all":
            _write_timeline(item, rep, call, timeline)
    if rep.failed and rep.when in ("setup", "call"):
        item.stash[FAILED] = True
    if rep.when == "teardown":
        kept = attachments.attach_playwright_artifacts(rep.user_properties, item.config.invocation_params.dir)
        if TRACE in item.stash:
            kept.append(attachments.attach_trace(item.stash[TRACE]))
        if kept:
            rep.sections.append(("Playwright artifacts", "\n".join(kept)))
    if extra:
        # The report shares the item's list; later phases must not inherit this phase's reason.
        rep.user_properties = list(rep.user_properties) + extra


def _judge(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo, violations: list,
           faults: list[tuple[str, str]]) -> list:
    """This phase's outcome for the test's own ids, and whose fault a bad one is (harness.attribution): the
    report is adjusted in place; the user properties that carry the outcome to the controller are returned.
    faults: what broke in the mock or a tap during the test."""
    death = _proxy_death(item) if rep.when in ("call", "teardown") else None
    if faults:
        # The mock or a tap broke during the test (or a replay's cassette did not cover what the proxy did):
        # whatever the test concluded rests on a broken part.
        return _errored(item, rep, attribution.Blame(faults[0][0], "; ".join(what for _, what in faults)))
    if call.excinfo is None or rep.outcome != "failed":
        return _proxy_failed(item, rep, death, None) if death is not None and rep.outcome != "skipped" else []
    exc = call.excinfo.value
    if death is not None and not isinstance(exc, _NOT_THE_PROXYS):
        # Whatever the test saw next (a close, a timeout, nothing to judge) followed from the proxy's exit.
        return _proxy_failed(item, rep, death, exc)
    ids = [rid for mark in item.iter_markers("req") for rid in mark.args]
    if isinstance(exc, ConformanceFailure) and exc.req not in ids:
        # A verdict under an id the test does not declare would be counted nowhere, or under the wrong id.
        exc = HarnessFault(f"the check judged {exc.req}, which the test's req marker ({', '.join(ids)}) does not "
                           f"list: fix the check or the marker ({attribution.first_line(exc)})")
    if isinstance(exc, ConnectionClosed):
        # A wire client's send or receive found its connection closed: a step the check needed could not
        # happen. The close itself is judged under the id it breaks (LIFE-*, the invariants), not here.
        close = exc.rcvd or exc.sent
        how = f"code {close.code} {close.reason}".rstrip() if close else "without a close frame"
        exc = Inconclusive(ids[0], f"not judged: the connection closed ({how}) before the check could finish")
    if isinstance(exc, NotExercised):
        # The app did not send the stimulus (an optional capability it lacks): skipped, naming the app.
        rep.outcome, rep.longrepr = "skipped", (str(item.path), item.location[1] or 0,
                                                f"SKIPPED {exc.req}: {exc.reason}")
        return [("reason", exc.reason), ("own", "skipped")]
    if isinstance(exc, Inconclusive):
        caused = "; ".join(f"{v.req} failed in this session: {v.reason}" for v in violations)
        reason = exc.reason + (f" ({caused})" if caused else "")
        rep.outcome, rep.longrepr = "skipped", (str(item.path), item.location[1] or 0,
                                                f"INCONCLUSIVE {exc.req}: {reason}")
        item.stash[FAILED] = True   # keep its trace; a scenario rule it never reached is no news
        return [("reason", reason), ("own", "inconclusive")]
    if isinstance(exc, ConformanceFailure):
        stalled = item.stash[STALLS]() if STALLS in item.stash else []
        if stalled:
            # A replay held back what the proxy waited for: the recording cannot judge this proxy here.
            blame = attribution.Blame(attribution.SCENARIO, f"{stalled[0]} ({exc.req}: {exc.reason})")
            return _errored(item, rep, blame)
        rep.longrepr = str(exc)  # the requirement, the reason and the timeline slice; no stack trace
        return [("reason", exc.reason)]
    return _errored(item, rep, attribution.classify(exc))


def _errored(item: pytest.Item, rep: pytest.TestReport, blame: attribution.Blame) -> list:
    """Make this phase an error of blame's party (not the proxy's failure); stop the run if it says so."""
    rep.outcome, rep.longrepr = "failed", f"harness: {blame.party} error (not the proxy's failure): {blame.reason}"
    if blame.stops_run:
        item.session.shouldstop = f"{blame.party} error"
    return [("reason", blame.reason), ("own", "error"), ("party", blame.party)]


def _expected_by_scenario(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo, extra: list) -> list:
    """The verdict the test's scenario declared (`expect`: it makes the upstream itself misbehave) is the
    scenario's, not the proxy's: the test shows as an expected failure (xfail) and its ids as expected by the
    scenario. A scenario that declared a verdict the test did not reach (the canary passed where it says it must
    fail) does not do what it says: a scenario error. The proxy's exit stays the proxy's."""
    config = getattr(item.config, "harness", None)
    own = dict(extra).get("own", rep.outcome)
    if config is None or item.stash.get(DEATH_REPORTED, False) or own not in ("passed", "failed", "inconclusive"):
        return extra
    # Imported here: pytest loads the fixtures module as a plugin (pytest_plugins) and rewrites its asserts then.
    from voice_harness.plugin.fixtures import scenario_for
    try:
        scenario = scenario_for(item, config)
    except ScenarioError:
        return extra   # the mock fixture made the test a scenario error already
    exc = call.excinfo.value if call.excinfo is not None else None
    ids = [rid for mark in item.iter_markers("req") for rid in mark.args]
    found = scenario_expectation(scenario.expect, ids, own, exc.req if isinstance(exc, ConformanceFailure) else None)
    if found is None:
        return extra
    rid, declared, met = found
    reason = dict(extra).get("reason", "") or (attribution.first_line(exc) if exc is not None else own)
    kept = [(key, value) for key, value in extra if key not in ("own", "reason", "party")]   # invariants stay
    if not met:
        return kept + _errored(item, rep, attribution.Blame(
            attribution.SCENARIO, f"the scenario {scenario.name!r} declares {rid} {declared} (expect), but the "
                                  f"test ended {own}: the upstream did not misbehave as the scenario says"))
    why = f"expected by the scenario {scenario.name!r} ({rid} {declared}), not the proxy's: {reason}"
    item.stash[FAILED] = True   # keep its trace; its scenario's rules may not all have fired
    if "invariants" not in dict(extra):   # an invariant the session broke keeps the test shown as failed
        rep.outcome, rep.wasxfail = "skipped", why
    return kept + [("reason", why), ("own", "expected")]


# Exceptions that are no consequence of the proxy's exit: the harness's own faults, a scenario's, the machine's.
_NOT_THE_PROXYS = (HarnessFault, EnvironmentProblem, ScenarioError)


def _harness_faults(item: pytest.Item) -> list[tuple[str, str]]:
    """Faults of the harness's own parts (the mock upstream, the taps, a replay's cassette) during this test so
    far, as (party, what)."""
    return [(fault.party, str(fault)) if isinstance(fault, HarnessFault) else (attribution.HARNESS, fault)
            for check in item.stash.get(FAULTS, []) for fault in check()]


def _proxy_death(item: pytest.Item) -> attribution.Blame | None:
    """The proxy's server died during this test (its process group is gone, or its port refuses connections,
    whatever launcher started it), and no phase has said so yet. The test's first connection the client tap
    could not make to the proxy dates the death (attribution.first_unreached)."""
    proxy = item.stash.get(PROXY, None)
    if proxy is None or item.stash.get(DEATH_REPORTED, False):
        return None
    recording = item.stash.get(RECORDING, None)
    unreached = (attribution.first_unreached(recording.timeline().frames, recording.origin)
                 if recording is not None else None)
    why = proxy.death(unreached)
    return None if why is None else attribution.proxy_died(why, proxy.log_tail(3))


def _proxy_failed(item: pytest.Item, rep: pytest.TestReport, death: attribution.Blame,
                  exc: BaseException | None) -> list:
    """Make this phase the proxy's failure for its exit, keeping what the test saw after it."""
    item.stash[DEATH_REPORTED] = True
    seen = f"\nthe test then saw: {attribution.first_line(exc)}" if exc is not None else ""
    rep.outcome, rep.longrepr = "failed", f"{death.reason}{seen}"
    return [("reason", death.reason), ("own", "failed")]


def _invariant_violations(item: pytest.Item) -> list[invariants.Violation]:
    """The invariants this test's session broke (only its own connections: not an earlier test's late frames)."""
    if RECORDING not in item.stash:
        return []
    return invariants.check(item.stash[RECORDING].timeline())


def _write_allure_environment(config: pytest.Config) -> None:
    """Profile, upstream, proxy, app and versions on the Allure report's environment panel."""
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory:
        return
    from voice_harness import __version__
    lines = {**{k: v for k, v in config.harness.describe().items() if v is not None},
             "harness": __version__, "browser": browser.version()}
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / "environment.properties").write_text(
        "".join(f"{key}={value}\n" for key, value in lines.items()))


def _write_timeline(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo, timeline) -> Path:
    """The test's timeline of both legs as HTML and JSON under reports/timelines/, attached to its result."""
    exc = call.excinfo.value if call.excinfo is not None else None
    anchors = list(exc.anchors) if isinstance(exc, ConformanceFailure) else []
    reason = str(exc).splitlines()[0] if exc is not None and str(exc) else rep.outcome
    path = timeline_view.write(item.config.harness.reports_dir / "timelines", f"{item.nodeid}-{rep.when}",
                               timeline.frames, timeline.origin, anchors, reason)
    rep.sections.append(("timeline", f"timeline of both legs: {path}"))
    allure.attach.file(str(path), name="timeline of both legs", attachment_type=allure.attachment_type.HTML)
    return path


def _attach_failure(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo, timeline) -> None:
    """The failed test's timeline, and on its Allure result also a screenshot, the proxy log tail, the browser
    console and the mock upstream's transcript."""
    path = _write_timeline(item, rep, call, timeline)
    funcargs = getattr(item, "funcargs", {})
    if funcargs.get("app") is not None and rep.when == "call":
        shot = attachments.screenshot(funcargs["app"].page, path.with_suffix(".png"))
        if shot is not None:
            rep.sections.append(("screenshot", f"the page when the test failed: {shot}"))
    if funcargs.get("live_proxy") is not None:
        attachments.attach_text(funcargs["live_proxy"].log_tail(40), "proxy log (tail)")
    if funcargs.get("spoken") is not None:
        wavs = attachments.attach_voice(funcargs["spoken"], timeline.frames, path.parent, path.stem)
        rep.sections.append(("audio", "spoken and received audio: " + ", ".join(str(w) for w in wavs)))
    if CONSOLE in item.stash:
        attachments.attach_text(attachments.console_text(item.stash[CONSOLE]), "browser console")
    mock = funcargs.get("mock_upstream")
    attachments.attach_text(attachments.mock_transcript(timeline.frames, timeline.origin,
                                                        mock.scenario if mock is not None else None),
                            "mock upstream transcript" if mock is not None else "upstream leg transcript")


class Conformance:
    """The controller's book of test outcomes per requirement; writes the reports and sets the exit status."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: dict[str, CaseResult] = {}
        self.record: dict | None = None
        self.status = COMPLETE
        self.figures: list[dict] = []
        self.failures: list[dict] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        reqs = tuple(props["req"].split(",")) if props.get("req") else ()
        result = self.results.setdefault(report.nodeid, CaseResult(report.nodeid, reqs))
        reason = props.get("reason", "")
        if report.outcome == "skipped" and not reason and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        result.merge_phase(props.get("own", report.outcome), reason, props.get("party", ""))
        for rid, why in json.loads(props.get("invariants", "{}")).items():
            result.found(rid, why)
        if "death_of" in props:   # the proxy exited after an earlier test had reported: that test's failure
            death = json.loads(props["death_of"])
            if death["test"] in self.results:
                self.results[death["test"]].merge_phase("failed", death["reason"])
        if "metrics" in props:
            self.figures.append({"test": report.nodeid, **json.loads(props["metrics"])})
        if "failure_class" in props:
            self.failures.append({"test": report.nodeid, "requirements": list(reqs), "reason": reason,
                                  **json.loads(props["failure_class"])})

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        results = list(self.results.values())
        if any(r.reqs for r in results):
            _write_allure_environment(self.config)
        error = first_error(results)
        if error is not None:   # also when it stopped the run (with workers the controller sees an interrupt)
            self.status = ENVIRONMENT_ERROR
            session.exitstatus = 2
        elif int(exitstatus) == pytest.ExitCode.INTERRUPTED:
            self.status = INTERRUPTED
        if not any(r.reqs for r in results):
            return
        known = catalogue.load()
        table = verdicts(known, results)
        # Only a run asked to repeat (pytest-repeat's --count) is read as runs: a test id may end in k-N too.
        repeated = (self.config.getoption("count", default=1) or 1) > 1 and repeat_count(results) > 1
        runs = with_counts(table, results, known) if repeated else {}
        run = {**self.config.harness.describe(), "status": self.status}
        if error is not None:
            run["error"] = {"party": error.party, "test": error.nodeid, "reason": error.reason}
        self.record = report.to_json(table, known, run, self.config.harness.strict)
        self.record["failures"] = self.failures
        if repeated:
            self.record["repeats"] = {"runs": repeat_count(results),
                                      "ids": {rid: {"verdicts": list(s.verdicts), "stable": s.stable}
                                              for rid, s in runs.items()}}
        report.write(self.config.harness.reports_dir, self.record)
        if self.figures:
            report.write_metrics(self.config.harness.reports_dir, results, self.figures, self.failures)
        if error is None:
            session.exitstatus = exit_status(int(exitstatus), table, results, self.config.harness.strict,
                                             self.config.getoption("--require-complete"))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.record is not None:
            terminalreporter.section("conformance")
            for line in report.terminal_table(self.record):
                terminalreporter.write_line(line)
            terminalreporter.section("requirement areas")
            for line in report.area_status(self.record):
                terminalreporter.write_line(line, red=any(f" {m} " in line for m in ("FAIL", "ERROR", "INCONCL")),
                                            green=" pass " in line)
            terminalreporter.write_line(f"reports: {self.config.harness.reports_dir}/conformance.json, .md")
            if (self.config.getoption("--require-complete") and self.status == COMPLETE
                    and self.record["gate"]["state"] == "partial"):
                terminalreporter.write_line("harness: --require-complete: a partial run is no release verdict "
                                            "(exit 1)", red=True, bold=True)
        error = first_error(list(self.results.values()))
        if error is not None:
            terminalreporter.write_line(report.error_line(error.party, error.reason, error.nodeid),
                                        red=True, bold=True)
        elif self.status == INTERRUPTED and self.record is not None:
            terminalreporter.write_line("harness: the run was interrupted; conformance.json is marked "
                                        "\"status\": \"interrupted\"", red=True, bold=True)
