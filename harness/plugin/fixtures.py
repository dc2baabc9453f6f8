"""Fixtures, from the worker's servers (session scope) down to one test's app and recording."""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import Error as PlaywrightError

from voice_harness.mock_upstream import scenario as scenarios
from voice_harness.mock_upstream import tap_rules
from voice_harness.wire.recording import UPSTREAM_LEG, Frame, Recorder
from voice_harness.mock_upstream.engine import unused_rules
from voice_harness.wire.relay import Relay
from voice_harness.wire import cassette
from voice_harness.mock_upstream.replay_server import ReplayUpstream
from voice_harness.mock_upstream.server import MockUpstream

from voice_harness.drivers.app_driver import GIVE_UP_POLL_S, AppDriver
from voice_harness.judging.diagnosis import ended_by
from voice_harness.plugin import pages
from voice_harness.plugin.loop_thread import LoopThread
from voice_harness.timeouts import units
from voice_harness.judging.checks import not_provoked
from voice_harness import paths, version
from voice_harness.errors import EnvironmentProblem, HarnessFault
from voice_harness.plugin.keys import (CONSOLE, DEATH_REPORTED, EARLIER_DEATH, FAILED, FAULTS, LAST_PROXY_TEST,
                                       PROXY, RECORDING, STALLS, TRACE, VERDICT)
from voice_harness.targets import proxy_process
from voice_harness.targets.proxy_process import ExternalProxy, ProxyProcess, free_port
from voice_harness.targets.run_config import RunConfig
from voice_harness.targets import browser, speech
from voice_harness.targets.static_server import StaticServer
from voice_harness.judging.timeline import Timeline
from voice_harness.reports.timeline_view import safe_name
from voice_harness.drivers.wire_client import WireClient

# What the tap passes on to the real upstream from the proxy's handshake; never recorded.
TAP_FORWARDED_HEADERS = ("Authorization", "OpenAI-Beta", "OpenAI-Organization", "OpenAI-Project")


@pytest.fixture(scope="session")
def harness_config(pytestconfig) -> RunConfig:
    """The run's target, scenario, defect and report folder, resolved from the options."""
    if pytestconfig.harness is None:   # found at configure, where a run not using the harness was let go on
        raise pytestconfig.harness_problem
    return pytestconfig.harness


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    """Every frame of this worker, legs A and B, on one clock."""
    return Recorder()


@pytest.fixture(scope="session")
def harness_loop() -> Iterator[LoopThread]:
    """The worker's background asyncio loop for the mock upstream and the client tap."""
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="session")
def mock_server(harness_loop: LoopThread, recorder: Recorder,
                harness_config: RunConfig) -> Iterator[MockUpstream | None]:
    """The worker's mock upstream (a fixed port if the profile says so); None when the upstream is real or a
    replay of cassettes."""
    if harness_config.real_upstream or harness_config.replay:
        yield None
        return
    server = MockUpstream(recorder, port=harness_config.profile.upstream.port)
    try:
        harness_loop.run(server.start())
    except OSError as exc:
        raise EnvironmentProblem(f"the mock upstream cannot listen on port "
                                 f"{harness_config.profile.upstream.port}: {exc.strerror}") from None
    yield server
    harness_loop.run(server.stop())


@pytest.fixture(scope="session")
def upstream_tap(harness_loop: LoopThread, recorder: Recorder, harness_config: RunConfig) -> Iterator[Relay | None]:
    """The recording tap in front of the real API (leg B); None when the upstream is the mock."""
    if not harness_config.real_upstream:
        yield None
        return
    spec = harness_config.profile.upstream
    real = urlsplit(spec.real_url)
    tap = Relay(recorder, "B", f"{real.scheme}://{real.netloc}", port=spec.port,
                forward_headers=TAP_FORWARDED_HEADERS, validate_upstream=True)
    harness_loop.run(tap.start())
    yield tap
    harness_loop.run(tap.stop())


@pytest.fixture(scope="session")
def replay_server(harness_loop: LoopThread, recorder: Recorder,
                  harness_config: RunConfig) -> Iterator[ReplayUpstream | None]:
    """--upstream replay:PATH: the recorded cassettes served as the upstream; None otherwise."""
    if not harness_config.replay:
        yield None
        return
    server = ReplayUpstream(recorder, harness_config.replay_speed)
    harness_loop.run(server.start())
    yield server
    harness_loop.run(server.stop())


@pytest.fixture(scope="session")
def upstream_url(harness_config: RunConfig, mock_server: MockUpstream | None, upstream_tap: Relay | None,
                 replay_server: ReplayUpstream | None) -> str:
    """The URL the proxy is given as its upstream: the mock, a replay, or the tap with the real API's path and
    query."""
    if mock_server is not None:
        return mock_server.url
    if replay_server is not None:
        return replay_server.url
    real = urlsplit(harness_config.profile.upstream.real_url)
    return upstream_tap.url(real.path + (f"?{real.query}" if real.query else ""))


@pytest.fixture(scope="session")
def proxy(harness_config: RunConfig, upstream_url: str, worker_id: str) -> Iterator[ProxyProcess | ExternalProxy]:
    """The proxy under test: started from the profile (its whole process group ended after the run), or
    the one already running at the profile's URL."""
    spec = harness_config.profile.proxy
    if spec.url is not None:
        yield ExternalProxy(spec.url)
        return
    port = free_port()
    process = proxy_process.from_spec(spec, port, upstream_url, harness_config.defect, harness_config.variant,
                                      harness_config.reports_dir / "logs" / f"proxy-{worker_id}.log")
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def client_tap(harness_loop: LoopThread, recorder: Recorder, proxy: ProxyProcess | ExternalProxy) -> Iterator[Relay]:
    """The recording relay between browser and proxy (leg A)."""
    relay = Relay(recorder, "A", proxy.base_url)
    harness_loop.run(relay.start())
    yield relay
    harness_loop.run(relay.stop())


@pytest.fixture(scope="session")
def app_server() -> Iterator[StaticServer]:
    """The bundled test app, served over HTTP on a port chosen by the OS."""
    server = StaticServer(paths.bundled("test_app"))
    yield server
    server.stop()


def scenario_for(node: pytest.Item, config: RunConfig) -> scenarios.Scenario:
    """The test's own scenario (marker), else the run's base scenario."""
    mark = node.get_closest_marker("scenario")
    if mark is None:
        return config.scenario
    base = scenarios.load(mark.args[0]) if mark.args else config.scenario
    return base.with_overrides(**mark.kwargs) if mark.kwargs else base


@pytest.fixture
def mock_upstream(request: pytest.FixtureRequest, mock_server: MockUpstream | None, upstream_tap: Relay | None,
                  replay_server: ReplayUpstream | None, harness_config: RunConfig) -> Iterator[MockUpstream | None]:
    """The mock upstream set to this test's scenario; it checks its own expectations at teardown.
    With the real upstream: None; the tap plays the scenario's delay, drop and close rules, and a test whose
    scenario needs more than that is skipped; the test's upstream session is kept as a cassette.
    With a replay: None; the test's cassette is served (a test with none is skipped)."""
    if replay_server is not None:
        yield from _replayed(request, replay_server, harness_config)
        return
    if mock_server is None:
        scenario = scenario_for(request.node, harness_config)
        why = tap_rules.unsupported(scenario)
        if why is not None:
            pytest.skip(f"scripts the upstream (a scenario), which needs the mock; the upstream is real: {why}")
        upstream_tap.scenario = scenario
        yield None
        upstream_tap.scenario = None
        _keep_cassette(request.node, upstream_tap, harness_config, scenario)
        return
    try:
        mock_server.use(scenario_for(request.node, harness_config))
    except scenarios.ScenarioError as exc:
        raise HarnessFault(f"{request.node.nodeid}: {exc}", party="scenario") from None
    mock_fault = lambda: ["the mock upstream failed: " + "; ".join(mock_server.errors)] if mock_server.errors else []  # noqa: E731
    request.node.stash.setdefault(FAULTS, []).append(mock_fault)
    yield mock_server
    if mock_fault():
        # Whatever the test saw may follow from the mock's own fault: not judged, whether it passed or failed.
        raise HarnessFault(mock_fault()[0])
    unused = unused_rules(mock_server.scenario, mock_server.engines)
    # A rule that never applied means the situation the test scripts never arose: its pass proves nothing.
    # After a failure it is only an echo of it (the session ended before the rule's event came).
    if unused and not request.node.stash.get(FAILED, False):
        ids = [rid for mark in request.node.iter_markers("req") for rid in mark.args]
        not_provoked("the scenario's rules to apply; they did not: " + "; ".join(unused),
                     req=ids[0] if ids else "scenario")


def _replayed(request: pytest.FixtureRequest, server: ReplayUpstream, config: RunConfig) -> Iterator[None]:
    """Serve the test's cassette; a divergence makes the test an error (the cassette's scope, not the proxy's)."""
    recorded = config.cassettes.get(request.node.nodeid)
    if recorded is None:
        pytest.skip(f"no cassette for this test in {config.profile.upstream.replay}")
    server.use(recorded)
    # This test's own lists: frames that come late, after the next test's use(), still land here.
    divergences, errors, sessions = server.divergences, server.errors, server.sessions

    def faults() -> list:
        return ([HarnessFault(d, party="scenario") for d in divergences]
                + [f"the replay upstream failed: {e}" for e in errors])

    request.node.stash.setdefault(FAULTS, []).append(faults)
    # A proxy that did less than the recorded one waits for what the cassette holds back: if the test then
    # fails, the recording is why, not the proxy (judged in the plugin).
    request.node.stash[STALLS] = lambda: [why for session, connection in sessions
                                          if not connection.closed and (why := session.held_back())]
    yield None
    server.use(None)
    if faults():
        first = faults()[0]
        raise first if isinstance(first, HarnessFault) else HarnessFault(first)


def _keep_cassette(node: pytest.Item, tap: Relay, config: RunConfig, scenario: scenarios.Scenario) -> None:
    """The test's upstream session as a cassette under reports/cassettes/ (what the real service did); only for a
    test that was judged (passed or failed): an error's or a skip's session says nothing reliable."""
    if RECORDING not in node.stash or node.stash.get(VERDICT, None) not in ("passed", "failed"):
        return
    frames = node.stash[RECORDING].timeline().frames
    if not any(f.leg == UPSTREAM_LEG for f in frames):
        return
    header = {"harness": version(), "test": node.nodeid, "scenario": scenario.name,
              "scenario_data": dataclasses.asdict(scenario),
              "upstream": urlsplit(config.profile.upstream.real_url).netloc, "verdict": node.stash.get(VERDICT, None)}
    recorded = cassette.from_frames(frames, tap.opened, header)
    cassette.write(config.reports_dir / "cassettes" / f"{safe_name(node.nodeid)}{cassette.SUFFIX}", recorded)


@dataclass
class Recording:
    """This test's slice of the worker's recorder."""

    recorder: Recorder
    mark: int
    origin: float

    def timeline(self) -> Timeline:
        """This test's frames: those of the connections it opened, never the late frames of an earlier test's."""
        return Timeline(self._own(self.recorder.since(self.mark)), self.origin)

    def _own(self, frames: list[Frame]) -> list[Frame]:
        own = self.recorder.opened_since(self.mark)
        return [f for f in frames if (f.leg, f.conn) in own]

    def wait_for(self, predicate: Callable[[Timeline], Any], timeout: float, while_live: bool = False) -> Any:
        """Wait until predicate(timeline so far) is truthy; its value, or None on timeout. With while_live, stop
        waiting as soon as the session can produce nothing more (one of this test's connections closed, or the
        mock upstream refused to reply for good): a test that needs a live session fails then, with that reason
        (diagnosis.ended_by), not at the timeout."""
        def done(frames):
            timeline = Timeline(self._own(frames), self.origin)
            return predicate(timeline) or (while_live and ended_by(timeline)[1])

        # A refusal becomes final by time passing, with no frame to wake the wait: poll for it.
        value = self.recorder.wait_for(done, timeout, self.mark, poll=GIVE_UP_POLL_S if while_live else None)
        return (predicate(self.timeline()) or None) if while_live and value is not None else value

    def first(self, timeout: float, while_live: bool = False, **criteria) -> Frame | None:
        return self.wait_for(lambda tl: tl.first(**criteria), timeout, while_live)


@pytest.fixture
def live_proxy(request: pytest.FixtureRequest, proxy: ProxyProcess | ExternalProxy) -> ProxyProcess | ExternalProxy:
    """The proxy under test, started again (its old process group ended first) if its server no longer serves
    (a death was seen, its group is gone, or its port refuses connections while a launcher lingers): a crash is
    the failure of the test it happened in. Kept on the item, so a death during this test is named in its report."""
    last = request.config.stash.get(LAST_PROXY_TEST, None)
    if not proxy.running:
        why = proxy.death() if last is not None and not last.stash.get(DEATH_REPORTED, False) else None
        if why is not None:
            # It died after the previous test's report was made (its clients' close, say): that test's failure.
            request.node.stash[EARLIER_DEATH] = (last.nodeid, f"{why} (after the test ended); "
                                                              f"its log ends: {proxy.log_tail(3)}")
            last.stash[DEATH_REPORTED] = True
        proxy.start()
    request.node.stash[PROXY] = proxy
    request.config.stash[LAST_PROXY_TEST] = request.node
    return proxy


@pytest.fixture
def recording(request: pytest.FixtureRequest, recorder: Recorder, mock_upstream: MockUpstream | None,
              live_proxy: ProxyProcess | ExternalProxy, client_tap: Relay,
              upstream_tap: Relay | None) -> Iterator[Recording]:
    """The frames of both legs recorded during this test (kept on the test item for its failure report).
    A tap that failed during the test makes it an error: what it recorded is not what was on the wire."""
    taps = [t for t in (client_tap, upstream_tap) if t is not None]
    seen = [len(t.errors) for t in taps]

    def tap_fault() -> list[str]:
        faults = [error for tap, before in zip(taps, seen) for error in tap.errors[before:]]
        return ["a recording tap failed: " + "; ".join(faults)] if faults else []

    request.node.stash.setdefault(FAULTS, []).append(tap_fault)
    rec = Recording(recorder, recorder.mark(), time.monotonic())
    request.node.stash[RECORDING] = rec
    yield rec
    if tap_fault():
        raise HarnessFault(tap_fault()[0])


@pytest.fixture
def make_wire_client(client_tap: Relay, harness_config: RunConfig, recording: Recording) -> Iterator[Callable]:
    """A factory of headless component-protocol clients connected through the client tap; all closed after the test."""
    clients: list[WireClient] = []

    def make(query: str = "") -> WireClient:
        client = WireClient(client_tap.url(harness_config.profile.proxy.path + query))
        clients.append(client)
        return client

    yield make
    for client in clients:
        # The test is judged: its clients leave without waiting for the proxy to finish its side of the close (a
        # proxy still streaming a reply may take seconds; that is no test's stimulus).
        client.close(wait_s=units(0.2))


def _kept_in(chromium) -> Iterator[pages.KeptContext]:
    kept = pages.KeptContext(lambda args: chromium.new_context(**args))
    yield kept
    kept.close()


@pytest.fixture(scope="session")
def kept_context(browser) -> Iterator[pages.KeptContext]:
    """pytest-playwright's browser's one context for this worker's browser tests (harness.plugin.pages)."""
    yield from _kept_in(browser)


def _overridden_playwright_fixtures(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """pytest-playwright's page fixtures that the project defines again (a conftest's own `context`, say)."""
    found = []
    for name in pages.PLAYWRIGHT_FIXTURES:
        try:
            defs = request._fixturemanager.getfixturedefs(name, request.node) or ()
        except (AttributeError, TypeError):   # pytest's fixture manager changed: assume nothing is overridden
            return ()
        if defs and not defs[-1].func.__module__.startswith("pytest_playwright"):
            found.append(name)
    return tuple(found)


@contextmanager
def _test_page(kept: pages.KeptContext, args: dict, own: Callable[[], Any], reason: str | None) -> Iterator[Any]:
    """A fresh page for this test: in the kept context (reset after the test), or from `own` (a context of the
    test's own) for the `reason` harness.plugin.pages gave."""
    if reason:
        yield own()
        return
    page = kept.new_page(args)
    try:
        yield page
    finally:
        kept.reset()


@pytest.fixture
def app_page(request: pytest.FixtureRequest, kept_context: pages.KeptContext, browser_context_args: dict
             ) -> Iterator[Any]:
    """The page `app` drives: a fresh one in the worker's kept context, or pytest-playwright's `page` (a context
    of the test's own) where harness.plugin.pages says so. Set up before the recording and the mock upstream and
    closed after them, as pytest-playwright's page."""
    reason = pages.own_context_reason(request.config.getoption,
                                      request.node.get_closest_marker("browser_context_args") is not None,
                                      _overridden_playwright_fixtures(request))
    with _test_page(kept_context, browser_context_args, lambda: request.getfixturevalue("page"), reason) as page:
        yield page


@pytest.fixture
def app(request: pytest.FixtureRequest, app_page, app_server: StaticServer, client_tap: Relay,
        proxy: ProxyProcess | ExternalProxy, harness_config: RunConfig, recording: Recording) -> Iterator[AppDriver]:
    """The app (bundled, or the profile's) on a fresh page (`app_page`: of the worker's kept browser context,
    cleared after each test, or of a context of its own), talking to the proxy through the client tap unless the
    profile turns the tap off. Its console is kept for the failure report, and with --harness-trace=failed (what
    `harness run` passes) a Playwright trace is kept when the test fails."""
    yield from _driven(request, app_page, app_server, client_tap, proxy, harness_config, recording)


@pytest.fixture(scope="session")
def spoken(harness_config: RunConfig) -> speech.Utterance:
    """The utterance the microphone plays in the voice tests: a padded WAV at the app's input rate."""
    return speech.utterance("first", harness_config.profile.app.input_rate)


@pytest.fixture(scope="session")
def microphone_browser(playwright, browser_type_launch_args: dict, spoken: speech.Utterance):
    """A Chromium of its own whose microphone plays the spoken WAV once per capture; the other browser tests
    keep pytest-playwright's browser."""
    args = dict(browser_type_launch_args)
    args["args"] = [*args.get("args", []), *browser.microphone_flags(spoken.path)]
    launched = playwright.chromium.launch(**args)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def kept_microphone_context(microphone_browser) -> Iterator[pages.KeptContext]:
    """The microphone browser's one context for this worker's voice tests (microphone permission granted)."""
    yield from _kept_in(microphone_browser)


MICROPHONE_CONTEXT = {"permissions": ["microphone"]}


def _own_microphone_page(request: pytest.FixtureRequest):
    context = request.getfixturevalue("microphone_browser").new_context(**MICROPHONE_CONTEXT)
    request.addfinalizer(context.close)
    return context.new_page()


@pytest.fixture
def voice_app(request: pytest.FixtureRequest, app_server: StaticServer, client_tap: Relay,
              proxy: ProxyProcess | ExternalProxy, harness_config: RunConfig, recording: Recording
              ) -> Iterator[AppDriver]:
    """The app on a fresh page of the browser with a microphone (permission granted; its context kept or the
    test's own, as for `app`); skipped for an app whose profile names no microphone control."""
    if not harness_config.profile.app.selectors.microphone:
        pytest.skip("the app has no microphone control, selectors.microphone in its profile "
                    "(app capability: microphone)")
    # The microphone browser is the harness's, not pytest-playwright's: only --browser-context decides.
    reason = pages.own_context_reason(request.config.getoption, playwrights=False)
    with _test_page(request.getfixturevalue("kept_microphone_context"), MICROPHONE_CONTEXT,
                    lambda: _own_microphone_page(request), reason) as page:
        yield from _driven(request, page, app_server, client_tap, proxy, harness_config, recording)


def _driven(request, page, app_server, client_tap, proxy, harness_config, recording) -> Iterator[AppDriver]:
    console = request.node.stash[CONSOLE] = []  # fresh also when a plugin reruns the same item
    for key in (FAILED, TRACE):
        if key in request.node.stash:
            del request.node.stash[key]
    page.on("console", lambda m: console.append(f"{time.monotonic() - recording.origin:8.3f}s  {m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"{time.monotonic() - recording.origin:8.3f}s  pageerror: {e}"))
    # pytest-playwright's own tracing (--tracing on|retain-on-failure) replaces the harness's lighter one.
    tracing = request.config.getoption("--harness-trace") == "failed" and request.config.getoption("--tracing") == "off"
    if tracing:
        # Actions and console only: about 3 s on the full suite with -n 2. DOM snapshots (which also carry the
        # network) cost 7 s there, 16 s serially, and stall the reply path enough to double the harness's
        # TTFR overhead p95; the screenshot at failure and the timeline of both legs cover that ground.
        # pytest-playwright's full trace (`-- --tracing retain-on-failure`) remains for who needs it.
        page.context.tracing.start(snapshots=False, screenshots=False, sources=False)
    spec, path = harness_config.profile.app, harness_config.profile.proxy.path
    endpoint = client_tap.url(path) if spec.client_tap else proxy.base_url + path
    yield AppDriver(page, spec.url or app_server.url, endpoint, spec.selectors, spec.endpoint_param,
                    spec.extra_params, recorded=spec.client_tap)
    if tracing:
        _stop_tracing(request.node, page, harness_config.reports_dir / "traces")


def _stop_tracing(node: pytest.Item, page, directory: Path) -> None:
    """Keep the trace of a test that failed in setup or call; drop the others. A crashed page has none."""
    trace = directory / f"{safe_name(node.nodeid)}.zip" if node.stash.get(FAILED, False) else None
    try:
        if trace is not None:
            trace.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        trace = None   # the trace is lost, but tracing still stops: a kept context serves the next test
    try:
        page.context.tracing.stop(**({"path": str(trace)} if trace is not None else {}))
        if trace is not None:
            node.stash[TRACE] = trace
    except PlaywrightError:
        pass
