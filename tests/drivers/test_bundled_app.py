"""The bundled test app against a scripted proxy (a WebSocket server in this test, which answers Settings with
SettingsApplied and sends what each case says): its idle timer (PROTOCOL.md section 6: the countdown from the
last agent activity, held while the agent speaks and while audio plays, off with idleTimeout=0, off by default
when the driver opens it), who closed (the driver's close_initiator), the temperature and assistant-role context
in its Settings, and two spoken turns on one connection (Chromium's fake microphone plays a WAV per capture).
Every case runs in one browser with a microphone (a launch costs seconds)."""

from __future__ import annotations

import array
import asyncio
import concurrent.futures
import json
import math
import threading
import time
import wave
from pathlib import Path

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from voice_harness import paths
from voice_harness.drivers.app_driver import CLIENT, SERVER, AppDriver, idle_timer
from voice_harness.targets import browser
from voice_harness.targets.static_server import StaticServer
from voice_harness.timeouts import units

# Its module fixture is made once: under pytest-xdist (make test), every test of the module runs on one worker.
pytestmark = pytest.mark.xdist_group("bundled-app")

RATE = 24000                       # the bundled app's input and output rate
FRAME_BYTES = RATE // 50 * 2       # one 20 ms PCM16 frame
LOUD_RMS = 1000                    # the test tone is far above it, the WAV's silence far below


class ScriptedProxy:
    """A proxy of this test's own, in a thread: SettingsApplied for every Settings; records each connection's
    frames and how it closed ({code, reason, by, t}: by = client when the app's close frame came first)."""

    def __init__(self):
        self.conns: list[dict] = []
        self.after_settings: list[dict | bytes] = []   # sent right after SettingsApplied (no race with a short timer)
        self._sockets: list = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def main():
            async with serve(self._handle, "127.0.0.1", 0) as server:
                self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/openai"
                self._stop = self.loop.create_future()
                ready.set()
                await self._stop
        self.loop.run_until_complete(main())

    async def _handle(self, ws) -> None:
        conn = {"texts": [], "binary": [], "close": None}
        self.conns.append(conn)
        self._sockets.append(ws)
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    conn["binary"].append(message)
                    continue
                msg = json.loads(message)
                conn["texts"].append(msg)
                if msg.get("type") == "Settings":
                    await ws.send(json.dumps({"type": "SettingsApplied"}))
                    for then in self.after_settings:
                        await ws.send(then if isinstance(then, bytes) else json.dumps(then))
                    conn["settings_t"] = time.monotonic()   # when SettingsApplied and after_settings went
        except ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
        by = CLIENT if ws.protocol.close_rcvd_then_sent else SERVER
        conn["close"] = {"code": rcvd.code if rcvd else None, "reason": rcvd.reason if rcvd else "", "by": by,
                         "t": time.monotonic()}

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def send(self, message: dict | bytes) -> float:
        """Send to the latest connection; the monotonic time it went, taken on the proxy's own loop right before
        the frame is written (a time taken after the call returns to this thread can be late on a busy machine,
        and a bound measured from it looks shorter than it was)."""
        data = message if isinstance(message, bytes) else json.dumps(message)
        ws = self._sockets[-1]

        async def timed_send() -> float:
            went = time.monotonic()
            await ws.send(data)
            return went
        return self._call(timed_send())

    def close_latest(self, code: int = 1000, reason: str = "server says bye") -> None:
        self._call(self._sockets[-1].close(code, reason))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(10)


def tone_wav(path: Path) -> Path:
    """0.3 s of silence, 0.6 s of a 440 Hz tone, 0.4 s of silence: PCM16 mono at RATE."""
    samples = array.array("h", [0] * int(0.3 * RATE))
    samples.extend(int(8000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(int(0.6 * RATE)))
    samples.extend([0] * int(0.4 * RATE))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return path


def loud(frames: list[bytes]) -> int:
    """How many frames carry the tone."""
    count = 0
    for frame in frames:
        samples = array.array("h", frame[:len(frame) // 2 * 2])
        if samples and math.sqrt(sum(s * s for s in samples) / len(samples)) > LOUD_RMS:
            count += 1
    return count


def until(condition, timeout_s: float) -> bool:
    """Poll a condition of the scripted proxy's state (a thread of its own) until it holds or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


# ------------------------------------------------------------------------------------------------ the cases

def connected(browser_context, app_url: str, proxy: ScriptedProxy, **params) -> tuple[AppDriver, dict]:
    driver = AppDriver(browser_context.new_page(), app_url, proxy.url)
    before = len(proxy.conns)
    driver.open(**params)
    assert driver.connect(units(10)) == "ready"
    return driver, proxy.conns[before]


def closed_within(driver: AppDriver, timeout_s: float) -> bool:
    return driver.wait_for_text(driver.s.status, "closed", timeout_s)


def idle_close(context, app_url, proxy):
    opened = time.monotonic()
    driver, conn = connected(context, app_url, proxy, **idle_timer(800))
    closed = closed_within(driver, units(5))
    until(lambda: conn["close"] is not None, units(5))
    return {"closed": closed, "initiator": driver.close_initiator(), "idle": driver.closed_by_idle_timer(),
            "close": conn["close"], "after_s": conn["close"]["t"] - opened if conn["close"] else None,
            "log": driver.event_log()}


def idle_off_by_default(context, app_url, proxy):
    driver, conn = connected(context, app_url, proxy)
    closed = closed_within(driver, 1.5)   # the timer of idle_close closes within 0.8 s of its open
    log = driver.event_log()
    page = context.new_page()             # opened bare (not by the driver): the app's own default
    page.goto(f"{app_url}?connectionMode=proxy&proxyEndpoint={proxy.url}")
    default_log = page.get_by_test_id("event-log").text_content() or ""
    return {"closed": closed, "log": log, "default_log": default_log}


def held_while_speaking(context, app_url, proxy):
    proxy.after_settings = [{"type": "AgentStartedSpeaking"}]
    try:
        driver, conn = connected(context, app_url, proxy, **idle_timer(600))
    finally:
        proxy.after_settings = []
    closed_while_speaking = closed_within(driver, 1.5)
    done_at = proxy.send({"type": "AgentAudioDone"})
    closed = closed_within(driver, units(5))
    until(lambda: conn["close"] is not None, units(5))
    return {"closed_while_speaking": closed_while_speaking, "closed": closed,
            "after_done_s": conn["close"]["t"] - done_at if conn["close"] else None}


ACTIVITY = {"type": "ConversationText", "role": "assistant", "content": "still here"}


def restarted_by_activity(context, app_url, proxy):
    proxy.after_settings = [ACTIVITY]
    try:
        driver, conn = connected(context, app_url, proxy, **idle_timer(1500))
    finally:
        proxy.after_settings = []
    last = time.monotonic()
    for _ in range(6):   # one activity every 0.3 s for 1.8 s: never 1.5 s without one
        time.sleep(0.3)
        last = proxy.send(ACTIVITY)
    closed_early = conn["close"] is not None
    closed = closed_within(driver, units(5))
    until(lambda: conn["close"] is not None, units(5))
    return {"closed_early": closed_early, "closed": closed,
            "after_last_s": conn["close"]["t"] - last if conn["close"] else None}


def held_while_playing(context, app_url, proxy):
    proxy.after_settings = [bytes(int(1.5 * RATE) * 2)]   # 1.5 s of (silent) reply audio: it plays for 1.5 s
    try:
        driver, conn = connected(context, app_url, proxy, **idle_timer(500))
    finally:
        proxy.after_settings = []
    sent_at = conn["settings_t"]
    closed = closed_within(driver, units(8))
    until(lambda: conn["close"] is not None, units(5))
    return {"closed": closed, "after_audio_s": conn["close"]["t"] - sent_at if conn["close"] else None,
            "played": driver.audio_counts()}


def server_close(context, app_url, proxy):
    driver, conn = connected(context, app_url, proxy, **idle_timer(5000))
    proxy.close_latest()
    closed = closed_within(driver, units(5))
    return {"closed": closed, "initiator": driver.close_initiator(), "idle": driver.closed_by_idle_timer()}


CONTEXT = [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hello, Ada."}]


def settings(context, app_url, proxy):
    _, with_them = connected(context, app_url, proxy, temperature="0.3", context=json.dumps(CONTEXT))
    _, without = connected(context, app_url, proxy)
    bad = AppDriver(context.new_page(), app_url, proxy.url)
    bad.open(temperature="warm")
    return {"with": with_them["texts"][0], "without": without["texts"][0], "bad_log": bad.event_log()}


def two_spoken_turns(context, app_url, proxy):
    driver, conn = connected(context, app_url, proxy)
    sent = lambda: int(driver.text("microphone-frames-sent") or 0)   # noqa: E731 - the app's own count
    turns = []
    for _ in range(2):
        start = len(conn["binary"])
        driver.speak()
        # The tone plays 0.3 s into the capture; wait until it has gone over, then stop.
        heard = until(lambda: loud(conn["binary"][start:]) >= 20 and not loud(conn["binary"][-5:]), units(10))
        driver.stop_speaking()
        stopped = driver.wait_for_text(driver.s.microphone, "Start microphone", units(5))
        count = sent()
        arrived = until(lambda: len(conn["binary"]) == count, units(5))   # what the app sent has come over
        turns.append({"heard": heard, "stopped": stopped, "arrived": arrived, "frames": len(conn["binary"]) - start,
                      "loud": loud(conn["binary"][start:]), "sent_at_stop": count})
    time.sleep(0.3)   # frames a stopped capture's worklet still posts are dropped: none may go after the stop
    return {"turns": turns, "sent": sent(), "received": len(conn["binary"]), "open": conn["close"] is None}


CASES = {"idle close": idle_close, "idle off": idle_off_by_default, "speaking": held_while_speaking,
         "activity": restarted_by_activity, "playing": held_while_playing, "server close": server_close,
         "settings": settings, "two turns": two_spoken_turns}


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    wav = tone_wav(tmp_path_factory.mktemp("mic") / "tone.wav")
    proxy, site = ScriptedProxy(), StaticServer(paths.bundled("test_app"))

    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=browser.executable(pw.chromium.executable_path),
                                          args=[*browser.LAUNCH_FLAGS, *browser.microphone_flags(wav)])
            try:
                out = {}
                for name, case in CASES.items():
                    context = chromium.new_context(permissions=["microphone"])
                    try:
                        out[name] = case(context, site.url, proxy)
                    except Exception as exc:   # one case's failure is its test's, not every case's
                        out[name] = exc
                    finally:
                        context.close()
                return out
            finally:
                chromium.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:   # Playwright's sync API: no loop here
            yield pool.submit(run).result()
    finally:
        proxy.stop()
        site.stop()


def case(seen, name: str) -> dict:
    if isinstance(seen[name], Exception):
        raise seen[name]
    return seen[name]


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_the_idle_timer_closes_a_silent_connection_from_the_client_and_says_so(seen):
    got = case(seen, "idle close")
    assert got["closed"] and got["initiator"] == CLIENT and got["idle"], got["log"]
    assert got["close"]["by"] == CLIENT and (got["close"]["code"], got["close"]["reason"]) == (1000,
                                                                                              "Closed by client")
    assert got["after_s"] >= 0.8
    assert "closed by client (idle timeout)" in got["log"]


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_the_driver_opens_the_app_with_the_timer_off_and_the_apps_own_default_is_10_s(seen):
    got = case(seen, "idle off")
    assert not got["closed"]
    assert "idle timer off" in got["log"]
    assert "idle timer 10000 ms" in got["default_log"]


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_the_timer_is_held_while_the_agent_speaks_and_restarts_at_agent_audio_done(seen):
    got = case(seen, "speaking")
    assert not got["closed_while_speaking"] and got["closed"]
    assert got["after_done_s"] >= 0.6


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_agent_activity_restarts_the_countdown(seen):
    got = case(seen, "activity")
    assert not got["closed_early"] and got["closed"]
    assert got["after_last_s"] >= 1.5


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_the_timer_is_held_while_reply_audio_plays(seen):
    got = case(seen, "playing")
    assert got["closed"] and got["played"] == (1, 1)
    assert got["after_audio_s"] >= 1.5 + 0.5 - 0.1   # the playback, then the timeout (a little scheduling slack)


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_a_server_close_is_told_from_the_apps_own(seen):
    got = case(seen, "server close")
    assert got["closed"] and got["initiator"] == SERVER and not got["idle"]


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_settings_carry_the_temperature_and_context_of_both_roles_when_given(seen):
    got = case(seen, "settings")
    assert got["with"]["agent"]["think"]["provider"]["temperature"] == 0.3
    assert got["with"]["agent"]["context"]["messages"] == CONTEXT
    assert "temperature" not in got["without"]["agent"]["think"]["provider"]
    assert "context" not in got["without"]["agent"]
    assert "temperature URL parameter is not a number" in got["bad_log"]


@pytest.mark.e2e   # the bundled app in Chromium against a scripted proxy, with its timers: seconds each
def test_the_microphone_speaks_twice_on_one_connection(seen):
    got = case(seen, "two turns")
    first, second = got["turns"]
    assert first["loud"] >= 20 and second["loud"] >= 20, got   # the tone, in each capture
    assert all(turn["stopped"] and turn["arrived"] for turn in got["turns"]), got
    assert got["sent"] == got["received"] == second["sent_at_stop"], f"frames after the microphone stopped: {got}"
    assert got["open"]


def test_the_driver_turns_the_idle_timer_off_unless_the_profile_or_the_test_asks_for_it():
    def query(extra=None, **params) -> dict:
        from urllib.parse import parse_qs, urlsplit
        url = AppDriver(None, "http://app/", "ws://proxy/openai", extra_params=extra).url(**params)
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query() == {"idleTimeout": "0", "connectionMode": "proxy", "proxyEndpoint": "ws://proxy/openai"}
    assert query(**idle_timer(1500))["idleTimeout"] == "1500"
    assert query({"idleTimeout": "10000"})["idleTimeout"] == "10000"   # a profile's extra_params
    assert query({"idleTimeout": "10000"}, **idle_timer(0))["idleTimeout"] == "0"


def test_an_app_without_the_close_initiator_element_is_read_from_its_event_log_close_lines():
    from voice_harness.drivers.app_driver import _CLOSE_BY
    log = ("12.0 open ws://x\n13.0 close code=1006 reason= by=server\n20.1 open ws://x\n"
           "31.0 idle closed by client (idle timeout): no agent activity for 10000 ms\n"
           "31.1 close code=1000 reason=Closed by client by=client\n")
    assert _CLOSE_BY.findall(log) == [SERVER, CLIENT]
    assert _CLOSE_BY.findall("12.0 open ws://x\n12.5 recv SettingsApplied\n") == []
