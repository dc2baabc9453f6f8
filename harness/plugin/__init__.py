"""The pytest plugin: options, markers, requirement bookkeeping, conformance reports, exit status."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import allure
import pytest
from voice_harness.mock_upstream.scenario import ScenarioError

from voice_harness import options
from voice_harness.plugin import attachments, overrides
from voice_harness.reports import run_files
from voice_harness.judging import attribution, catalogue, invariants, metrics
from voice_harness.targets import browser, preflight, run_config
from voice_harness.reports import allure_params, report, timeline_view
from voice_harness.judging.checks import ConformanceFailure
from voice_harness.judging.outcome import Expectation, Outcome, PhaseFacts, PhaseRecord, judge, named_check
from voice_harness import paths
from voice_harness.errors import EnvironmentProblem, HarnessFault, UsageProblem
from voice_harness.plugin.keys import (CONSOLE, DEATH_REPORTED, EARLIER_DEATH, FAILED, FAULTS, PROXY, RECORD,
                                       RECORDING, STALLS, TRACE, VERDICT)
from voice_harness.judging.repeats import repeat_count, with_counts
from voice_harness.judging.verdicts import CaseResult, exit_status, first_error, verdicts

# The run's status in conformance.json.
COMPLETE, INTERRUPTED, ENVIRONMENT_ERROR = "complete", "interrupted", "environment error"

pytest_plugins = ["voice_harness.plugin.fixtures", "voice_harness.plugin.shard"]


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
    choices = run_config.Options.from_pytest(config)
    reports_dir = choices.reports_dir
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
        config.harness = run_config.build(choices)
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
    _claim_reports(run_config.Options.from_pytest(config).reports_dir)
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A check that named no id judged the test's one id: the live exception says so (what pytest and Allure show
    first), not only the judged report."""
    try:
        return (yield)
    except ConformanceFailure as exc:
        ids = _ids(item)
        named = named_check(exc, ids) if ids else exc
        if named is exc or not isinstance(named, ConformanceFailure):
            raise   # a harness fault stays the judge's to make: the live check keeps its anchors for the timeline
        raise named.with_traceback(exc.__traceback__) from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Collect the phase's facts, let the judge decide (judging.outcome), apply its outcome to the report and carry
    the record to the controller; attach what a failure needs."""
    outcome = yield
    rep = outcome.get_result()
    facts = _facts(item, rep, call)
    judged = judge(facts)
    _apply(item, rep, judged)
    if rep.when == "call":
        item.stash[VERDICT] = judged.own   # a cassette's header keeps it
    extra = {}
    if rep.when == "setup" and EARLIER_DEATH in item.stash:
        test, why = item.stash[EARLIER_DEATH]
        extra["death_of"] = (test, why)
        rep.sections.append(("proxy", f"the proxy had exited after {test}, which fails for it: {why}; "
                                      f"started again for this test"))
    if RECORDING in item.stash:
        timeline = item.stash[RECORDING].timeline()
        if rep.when == "call" and "CANARY-1" in facts.ids:
            extra["metrics"] = metrics.run_figures(timeline)
        if rep.failed:
            extra["failure_class"] = metrics.classify(timeline)
            _attach_failure(item, rep, call, timeline, judged)
        elif rep.when == "call" and item.config.getoption("--timelines") == "all":
            _write_timeline(item, rep, call, timeline, judged)
    if rep.failed and rep.when in ("setup", "call"):
        item.stash[FAILED] = True
    if rep.when == "teardown":
        kept = attachments.attach_playwright_artifacts(rep.user_properties, item.config.invocation_params.dir)
        if TRACE in item.stash:
            kept.append(attachments.attach_trace(item.stash[TRACE]))
        if kept:
            rep.sections.append(("Playwright artifacts", "\n".join(kept)))
    record = PhaseRecord.of(facts, judged, **extra)
    if facts.ids or record.invariants or extra:
        # The report shares the item's list; later phases must not inherit this phase's record.
        rep.user_properties = list(rep.user_properties) + [(RECORD, record.to_json())]


def _ids(item: pytest.Item) -> tuple[str, ...]:
    return tuple(dict.fromkeys(rid for mark in item.iter_markers("req") for rid in mark.args))


def _facts(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo) -> PhaseFacts:
    """What this phase of the test saw (judged by judging.outcome.judge)."""
    ids = _ids(item)
    body = rep.when == "call"
    faults = _harness_faults(item) if body else []
    # The proxy's death is looked for after the test's body and teardown (its set-up starts it again if needed).
    death = _proxy_death(item) if ids and rep.when in ("call", "teardown") else None
    stalls = item.stash[STALLS]() if body and STALLS in item.stash else []
    return PhaseFacts(
        when=rep.when, ids=ids, outcome=rep.outcome,
        exception=call.excinfo.value if call.excinfo is not None else None,
        faults=tuple(faults), violations=tuple(_invariant_violations(item)) if body else (),
        death=death[0] if death else None, death_log=death[1] if death else "",
        death_reported=item.stash.get(DEATH_REPORTED, False), stall=stalls[0] if stalls else None,
        expectation=_expectation(item) if body and ids else None)


def _apply(item: pytest.Item, rep: pytest.TestReport, judged: Outcome) -> None:
    """Show the judged outcome on pytest's report, and keep what it settled on the item."""
    if judged.shows is not None:
        rep.outcome = judged.shows
    if judged.skip_line is not None:
        rep.longrepr = (str(item.path), item.location[1] or 0, judged.skip_line)
    elif judged.longrepr is not None:
        rep.longrepr = judged.longrepr
    if judged.xfail is not None:
        rep.wasxfail = judged.xfail
    if judged.stops_run is not None:
        item.session.shouldstop = judged.stops_run
    if judged.death_reported:
        item.stash[DEATH_REPORTED] = True
    if judged.keep_trace:
        item.stash[FAILED] = True


def _expectation(item: pytest.Item) -> Expectation | None:
    """The verdicts the test's scenario declares (None without a run configuration or a loadable scenario)."""
    config = getattr(item.config, "harness", None)
    if config is None:
        return None
    # Imported here: pytest loads the fixtures module as a plugin (pytest_plugins) and rewrites its asserts then.
    from voice_harness.plugin.fixtures import scenario_for
    try:
        scenario = scenario_for(item, config)
    except ScenarioError:
        return None   # the mock fixture made the test a scenario error already
    return Expectation(scenario.name, dict(scenario.expect))


def _harness_faults(item: pytest.Item) -> list[tuple[str, str]]:
    """Faults of the harness's own parts (the mock upstream, the taps, a replay's cassette) during this test so
    far, as (party, what)."""
    return [(fault.party, str(fault)) if isinstance(fault, HarnessFault) else (attribution.HARNESS, fault)
            for check in item.stash.get(FAULTS, []) for fault in check()]


def _proxy_death(item: pytest.Item) -> tuple[str, str] | None:
    """How the proxy's server died during this test (its process group is gone, or its port refuses connections,
    whatever launcher started it), and its log's last lines, if no phase has said so yet. The test's first
    connection the client tap could not make to the proxy dates the death (attribution.first_unreached)."""
    proxy = item.stash.get(PROXY, None)
    if proxy is None or item.stash.get(DEATH_REPORTED, False):
        return None
    recording = item.stash.get(RECORDING, None)
    unreached = (attribution.first_unreached(recording.timeline().frames, recording.origin)
                 if recording is not None else None)
    why = proxy.death(unreached)
    return None if why is None else (why, proxy.log_tail(3))


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


def _write_timeline(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo, timeline,
                    judged: Outcome) -> Path:
    """The test's timeline of both legs as HTML and JSON under reports/timelines/, attached to its result."""
    exc = call.excinfo.value if call.excinfo is not None else None
    anchors = list(exc.anchors) if isinstance(exc, ConformanceFailure) else []
    if isinstance(exc, ConformanceFailure) and judged.req:
        reason = f"{judged.req}: {exc.reason}"   # the id the judge gave it (a check may name none)
    else:
        reason = str(exc).splitlines()[0] if exc is not None and str(exc) else rep.outcome
    path = timeline_view.write(item.config.harness.reports_dir / "timelines", f"{item.nodeid}-{rep.when}",
                               timeline.frames, timeline.origin, anchors, reason)
    rep.sections.append(("timeline", f"timeline of both legs: {path}"))
    allure.attach.file(str(path), name="timeline of both legs", attachment_type=allure.attachment_type.HTML)
    return path


def _attach_failure(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo, timeline,
                    judged: Outcome) -> None:
    """The failed test's timeline, and on its Allure result also a screenshot, the proxy log tail, the browser
    console and the mock upstream's transcript."""
    path = _write_timeline(item, rep, call, timeline, judged)
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
        carried = dict(report.user_properties).get(RECORD)
        record = PhaseRecord.from_json(carried) if carried else PhaseRecord()
        result = self.results.setdefault(report.nodeid, CaseResult(report.nodeid, record.reqs))
        reason = record.reason
        if report.outcome == "skipped" and not reason and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        result.merge_phase(record.own or report.outcome, reason, record.party)
        for rid, why in record.invariants.items():
            result.found(rid, why)
        if record.death_of is not None:   # the proxy exited after an earlier test had reported: its failure
            test, why = record.death_of
            if test in self.results:
                self.results[test].merge_phase("failed", why)
        if record.metrics is not None:
            self.figures.append({"test": report.nodeid, **record.metrics})
        if record.failure_class is not None:
            self.failures.append({"test": report.nodeid, "requirements": list(record.reqs), "reason": reason,
                                  **record.failure_class})

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
