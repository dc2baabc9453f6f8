"""The in-process measurements of `voice-harness bench`: fixed costs of the embedded default, the mock's
timing precision, and how many concurrent component-protocol sessions the reference proxy plus mock sustain.
Each probe starts what it measures itself (real sockets, a real proxy subprocess, a real browser) and ends it."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from websockets.asyncio.client import connect

from voice_harness import paths
from voice_harness.wire.recording import PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY, Recorder
from voice_harness.mock_upstream.scenario import Delay, Scenario
from voice_harness.mock_upstream.server import MockUpstream

from voice_harness.targets import browser
from voice_harness.plugin.loop_thread import LoopThread
from voice_harness.judging.metrics import summarise
from voice_harness.targets.proxy_process import ProxyProcess, free_port
from voice_harness.targets.static_server import StaticServer
from voice_harness.timeouts import units
from voice_harness.drivers.wire_client import SETTINGS

SESSION_TIMEOUT_S = 30.0


@contextmanager
def mock_upstream(scenario: Scenario | None = None):
    """A mock upstream on its own loop thread; (mock, loop, seconds it took to listen)."""
    loop = LoopThread("bench-mock")
    mock = MockUpstream(Recorder())
    if scenario is not None:
        mock.use(scenario)
    started = time.monotonic()
    loop.run(mock.start())
    took = time.monotonic() - started
    try:
        yield mock, loop, took
    finally:
        loop.run(mock.stop())
        loop.stop()


@contextmanager
def reference_proxy(upstream_url: str):
    """The reference proxy as a subprocess; (proxy, seconds from spawn to accepting connections)."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="harness-bench-")) / "proxy.log"
    proxy = ProxyProcess([sys.executable, "-m", "voice_harness.reference_proxy", "--port", str(port), "--upstream-url",
                          upstream_url], {}, log, port, None, units(20))
    started = time.monotonic()
    proxy.start()
    took = time.monotonic() - started
    try:
        yield proxy, took
    finally:
        proxy.stop()


PAGE_CPU_PAGES = 5


def reference_path() -> str:
    """The path the reference proxy serves the component protocol on (its profile's proxy.path)."""
    from voice_harness.targets import profiles

    return profiles.load("reference").proxy.path


def chromium_cpu_s() -> float:
    """CPU seconds of this process's Chromium descendants so far, the ended ones included (Linux /proc: a
    process's own time plus that of the children it reaped; Chromium's zygote reaps its renderers)."""
    import os

    tick, parents, cpu, chromium = os.sysconf("SC_CLK_TCK"), {}, {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        pid = int(entry)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(value) for value in fields[11:15]) / tick
        if b"chrom" in command:
            chromium.add(pid)

    def descends(pid: int) -> bool:
        for _ in range(64):   # bounded: a /proc tree is shallow
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
            if pid <= 1:
                return False
        return False

    # A Chromium process whose parent is Chromium too is in its parent's children time once it ended.
    return sum(cpu[pid] for pid in chromium if descends(pid))


def _canary_page(page, app_url: str, endpoint: str) -> None:
    from voice_harness.drivers.app_driver import AppDriver

    driver = AppDriver(page, app_url, endpoint)
    driver.open()
    if driver.connect() != "ready":
        raise RuntimeError("the bundled app got no SettingsApplied from the reference proxy")
    driver.send("Hello")
    if driver.wait_for_reply(units(15)).reply is None:
        raise RuntimeError("the bundled app got no reply from the reference proxy")


def page_cpu(chromium, app_url: str, endpoint: str, pages: int = PAGE_CPU_PAGES) -> dict:
    """Chromium's CPU seconds per browser test page (the canary: open, connect, send, reply), a fresh context
    per page (pytest-playwright's way) and a page of the harness's kept context (harness.plugin.pages)."""
    from voice_harness.plugin.pages import KeptContext

    figures = {}
    kept = KeptContext(lambda args: chromium.new_context(**args))
    kept.new_page().close()   # made, with its blank page, before the measurement as in a run
    for name in ("fresh_context", "kept_context"):
        before = chromium_cpu_s()
        for _ in range(pages):
            if name == "fresh_context":
                context = chromium.new_context()
                _canary_page(context.new_page(), app_url, endpoint)
                context.close()
            else:
                _canary_page(kept.new_page(), app_url, endpoint)
                kept.reset()
        figures[name] = round((chromium_cpu_s() - before) / pages, 3)
    kept.close()
    return figures


def fixed_costs() -> dict:
    """Seconds for: mock start, proxy start (spawn to ready), browser launch, bundled app page load, and
    Chromium's CPU per browser test page in a fresh and in a kept context."""
    from playwright.sync_api import sync_playwright

    with mock_upstream() as (mock, _loop, mock_s), reference_proxy(mock.url) as (proxy, proxy_s):
        app = StaticServer(paths.bundled("test_app"))
        try:
            with sync_playwright() as pw:
                path = browser.executable(pw.chromium.executable_path)
                started = time.monotonic()
                chromium = pw.chromium.launch(executable_path=path, args=browser.LAUNCH_FLAGS)
                launch_s = time.monotonic() - started
                loads = []
                for _ in range(5):
                    context = chromium.new_context()
                    page = context.new_page()
                    started = time.monotonic()
                    page.goto(app.url, timeout=units(15) * 1000)
                    page.get_by_test_id("voice-agent").wait_for(state="attached", timeout=units(10) * 1000)
                    loads.append(time.monotonic() - started)
                    context.close()
                cpu = page_cpu(chromium, app.url, proxy.base_url + reference_path())
                chromium.close()
        finally:
            app.stop()
    return {"mock_start_s": round(mock_s, 4), "proxy_start_s": round(proxy_s, 4),
            "browser_launch_s": round(launch_s, 4), "page_load_s": summarise(loads), "page_cpu_s": cpu}


async def _delay_probe(url: str, count: int) -> list[float]:
    """Send session.update `count` times on one connection, one at a time; the seconds from each send until
    its session.updated arrived (the mock's scripted delay included)."""
    observed = []
    async with connect(url) as ws:
        await asyncio.wait_for(ws.recv(), units(10))  # session.created
        for _ in range(count):
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            while json.loads(await asyncio.wait_for(ws.recv(), units(10)))["type"] != "session.updated":
                pass
            observed.append(time.monotonic() - sent)
    return observed


def delay_precision(delays_ms: tuple[int, ...] = (0, 10, 25, 50, 100), per_delay: int = 25) -> dict:
    """The mock's timing: for each scripted delay of session.updated, the observed delay on the mock's own
    record (from receiving session.update to sending session.updated) minus the scripted one, in ms."""
    errors, per = [], {}
    for delay in delays_ms:
        scenario = Scenario(confirm_latency_ms=0, delays=(Delay(event="session.updated", ms=delay),))
        with mock_upstream(scenario) as (mock, loop, _):
            round_trips = asyncio.run(_delay_probe(mock.url, per_delay))
            frames = mock.recorder.since(0)
        received = [f.t for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "session.update"]
        sent = [f.t for f in frames if f.route == UPSTREAM_TO_PROXY and f.type == "session.updated"]
        mine = [(s - r) * 1000 - delay for r, s in zip(received, sent)]
        errors += mine
        per[str(delay)] = {"scripted_ms": delay, "error_ms": summarise(mine),
                           "round_trip_ms": summarise([v * 1000 for v in round_trips])}
    return {"delays": len(errors), "error_ms": summarise(errors), "abs_error_ms": summarise([abs(e) for e in errors]),
            "by_scripted_delay": per}


async def _session(url: str, index: int) -> float:
    """One component-protocol session: Settings, SettingsApplied, one message, the assistant's text; the turn
    latency (send to assistant ConversationText) in seconds."""
    async with connect(url, open_timeout=SESSION_TIMEOUT_S, max_size=None) as ws:
        await ws.send(json.dumps(SETTINGS))
        while json.loads(await ws.recv()).get("type") != "SettingsApplied":
            pass
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "InjectUserMessage", "content": f"Hello from session {index}"}))
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "Error":
                raise RuntimeError(f"Error {message.get('code')}")
            if message.get("type") == "ConversationText" and message.get("role") == "assistant":
                return time.monotonic() - sent


async def _sessions(url: str, count: int) -> tuple[list[float], list[str]]:
    async def bounded(index: int):
        return await asyncio.wait_for(_session(url, index), SESSION_TIMEOUT_S)

    results = await asyncio.gather(*(bounded(i) for i in range(count)), return_exceptions=True)
    latencies = [r for r in results if isinstance(r, float)]
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return latencies, errors


def load(levels: tuple[int, ...] = (50, 100, 200)) -> dict:
    """Concurrent sessions through one reference proxy and one mock, all at once per level; turn latency
    p50/p95/max and the errors (none is the target)."""
    figures = {}
    with mock_upstream() as (mock, _loop, _), reference_proxy(mock.url) as (proxy, _):
        url = proxy.base_url + reference_path()
        for level in levels:
            started = time.monotonic()
            latencies, errors = asyncio.run(_sessions(url, level))
            figures[str(level)] = {"sessions": level, "completed": len(latencies), "errors": len(errors),
                                   "first_errors": sorted(set(errors))[:3],
                                   "turn_latency_s": summarise(latencies),
                                   "wall_s": round(time.monotonic() - started, 3)}
    sustained = 0
    for level in levels:  # a level counts only when it and every smaller one ran clean
        if figures[str(level)]["errors"]:
            break
        sustained = level
    return {"levels": figures, "max_sustained_with_zero_errors": sustained}
