"""Running generated sessions for `harness explore`: lanes of (mock upstream, client tap, proxy subprocess), and a
headless component-protocol client that plays one session's script through a lane, both legs recorded on one
clock.

A lane serves many sessions at once. Its mock reads the scenario when a connection opens, so the lane holds a
lock from `mock.use(scenario)` until the session's two connections (client tap and upstream) have shown their
first frames; each connection's frames are routed to the session that opened it. A session ends when nothing is
in flight (every response done, every user item confirmed, the last message and function result answered, no
function result pending) and both legs were quiet for a moment; or after a longer quiet (something is stuck:
that is what the judges look at; a function result with no response.create yet keeps the session open past FN-1's
bound, so that the recording covers it); or at a cap; or, when the caller asks for it, as soon as its timeline so far
shows a violation the caller wants (every judge holds on a prefix of a session).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from voice_harness.wire.recording import Frame, Recorder
from voice_harness.wire.relay import Relay
from voice_harness.mock_upstream.server import MockUpstream

from voice_harness.tools import explore_model
from voice_harness.tools.explore_model import Session, Step
from voice_harness.judging.invariants import CONFIRMATIONS, Violation
from voice_harness.judging.turns import follow_up_within_s, lost_after_s
from voice_harness.judging.turn_detection import SERVICE_DEFAULT, set_by
from voice_harness.plugin.loop_thread import LoopThread
from voice_harness.targets.profiles import Profile
from voice_harness.targets import proxy_process
from voice_harness.targets.proxy_process import ProxyProcess, free_port
from voice_harness.judging.timeline import (CLIENT_LEG, CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM,
                                            UPSTREAM_LEG, UPSTREAM_TO_PROXY, Route, Timeline)
from voice_harness.timeouts import units

SHORT_QUIET_S = 0.1     # nothing in flight and both legs this quiet: the session is over
LONG_QUIET_S = 0.7      # something in flight but both legs this quiet: stuck
FN_1_MARGIN_S = 0.3     # a function result still unanswered: stuck only after FN-1's bound and this much more
LOST_MARGIN_S = 0.3     # a user turn still unanswered: stuck only after the horizon of a lost turn and this much more
WATCH_S = 0.2           # how often a session's timeline so far is judged, to cut a failing session short
MOMENT_TIMEOUT_S = 1.0  # a step waits this long at most for its moment
SESSION_CAP_S = lost_after_s() + 5.0    # past the horizon of a lost turn (stuck_after), from its moment
CONNECT_S = 2.0         # for the session's connections to show up on both legs
CLOSE_S = 1.0           # for both legs to record their close after the client closed
POLL_S = 0.02
DELTAS = explore_model.DELTAS
STIMULI = ("InjectUserMessage", "FunctionCallResponse")


@dataclass
class SessionResult:
    session: Session
    timeline: Timeline
    violations: list[Violation]
    problem: str | None = None      # the session could not run as scripted (not the proxy's verdict)
    seconds: float = 0.0


class _Record:
    """The frames of one session's connections, and an event that is set when one arrives."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.changed = asyncio.Event()

    def add(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.changed.set()

    def legs(self) -> set[str]:
        return {f.route.leg for f in self.frames}

    async def wait_for(self, predicate: Callable[[], object], timeout: float,
                       stop: asyncio.Event | None = None) -> object:
        """predicate's truthy value once it has one, else None after timeout or once stop is set (asked again on
        every frame)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            remaining = deadline - time.monotonic()
            if value or remaining <= 0 or stop is not None and stop.is_set():
                return value or None
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, POLL_S * 5))


_FINISHED = object()


class RoutingRecorder(Recorder):
    """A recorder that keeps no frames itself: each connection's frames go to the session that opened it (the
    claimant while that connection showed its first frame). Frames of a finished session are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.claimant: _Record | None = None
        self._owners: dict[tuple[str, int], object] = {}

    def record(self, frame: Frame) -> Frame:
        key = (frame.leg, frame.conn)
        owner = self._owners.get(key)
        if owner is None and self.claimant is not None:
            owner = self._owners[key] = self.claimant
        if isinstance(owner, _Record):
            owner.add(frame)
        return frame

    def finish(self, record: _Record) -> None:
        for key, owner in self._owners.items():
            if owner is record:
                self._owners[key] = _FINISHED


class Lane:
    """One mock upstream, one client tap and one proxy subprocess, on the shared loop."""

    def __init__(self, index: int, profile: Profile, defect: str | None, variant: str | None, log_dir: Path):
        self.index, self.profile, self.defect, self.variant = index, profile, defect, variant
        self.log_path = log_dir / f"explore-proxy-{index}.log"
        self.recorder = RoutingRecorder()
        self.mock = MockUpstream(self.recorder)
        self.relay: Relay | None = None
        self.proxy: ProxyProcess | None = None
        self.lock: asyncio.Lock | None = None

    async def start_servers(self) -> None:
        await self.mock.start()
        port = free_port()
        spec = self.profile.proxy
        self.proxy = proxy_process.from_spec(spec, port, self.mock.url, self.defect, self.variant, self.log_path)
        self.relay = Relay(self.recorder, CLIENT_LEG, self.proxy.base_url)
        await self.relay.start()
        self.lock = asyncio.Lock()

    async def stop_servers(self) -> None:
        for server in (self.relay, self.mock):
            if server is not None:
                with contextlib.suppress(Exception):
                    await server.stop()

    @property
    def url(self) -> str:
        return self.relay.url(self.profile.proxy.path)

    # ------------------------------------------------------------------------------------------- a session

    async def run(self, session: Session, stop: asyncio.Event,
                  stop_on: Callable[[list[Violation]], bool] | None = None) -> SessionResult:
        """Play the session; cut it short once stop is set (by its watcher, when its timeline so far shows a
        violation stop_on wants). Every judge holds on a prefix of a session, so a session cut short is judged
        like a whole one."""
        record = _Record()
        start = time.monotonic()
        client = _Client(session, record, stop)
        watcher = asyncio.ensure_future(_watch(record, start, stop, stop_on)) if stop_on else None
        problem = None
        try:
            async with self.lock:
                self.mock.use(session.scenario)
                self.recorder.claimant = record
                try:
                    problem = await client.connect(self.url)
                finally:
                    self.recorder.claimant = None
            if problem is None:
                problem = await client.play()
        except Exception as exc:  # the session's own machinery: reported with the session, not the proxy's
            problem = f"session error: {exc!r}"
        finally:
            if watcher is not None:
                watcher.cancel()
            await client.close()
            await record.wait_for(lambda: {f.route.leg for f in record.frames if f.kind == "close"} >= record.legs(),
                                  CLOSE_S)
            self.recorder.finish(record)
        frames = list(record.frames)
        timeline = Timeline(frames, start)
        return SessionResult(session, timeline, explore_model.judge(timeline), problem, time.monotonic() - start)


async def _watch(record: "_Record", start: float, stop: asyncio.Event,
                 stop_on: Callable[[list[Violation]], bool]) -> None:
    """Judge the session's timeline so far every WATCH_S, when it has new frames (the same frames, the same
    verdicts: the judges run on this loop, which also relays and timestamps every frame of every lane, so judging
    no more than needed keeps the timeline's clock true under load); set stop when it shows a violation stop_on
    wants."""
    judged = -1
    while not stop.is_set():
        await asyncio.sleep(WATCH_S)
        if len(record.frames) == judged:
            continue
        judged = len(record.frames)
        if stop_on(explore_model.judge(Timeline(record.frames[:judged], start))):
            stop.set()


class _Client:
    """The headless component-protocol client playing one script."""

    def __init__(self, session: Session, record: _Record, stop: asyncio.Event):
        self.script, self.record, self.stop = session.script, record, stop
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.pending: set[asyncio.Task] = set()
        self.last_sent = 0.0
        self.spoken = 0             # spoken turns sent

    async def connect(self, url: str) -> str | None:
        try:
            self.ws = await connect(url, open_timeout=units(5), max_size=None, close_timeout=units(1))
        except (OSError, InvalidHandshake, InvalidURI, asyncio.TimeoutError) as exc:
            return f"could not connect to the proxy through the client tap: {type(exc).__name__}"
        self.reader = asyncio.ensure_future(self._read())
        await self._send(json.dumps(self.script.settings()))
        both = await self.record.wait_for(lambda: self.record.legs() >= {CLIENT_LEG, UPSTREAM_LEG}, units(CONNECT_S),
                                          self.stop)
        return None if both or self.stop.is_set() else "the proxy opened no upstream connection"

    async def play(self) -> str | None:
        problem = None
        previous = self.last_sent
        if not self.script.early:
            ready = await self.record.wait_for(lambda: self._seen(PROXY_TO_CLIENT, "SettingsApplied", 0.0),
                                               units(CONNECT_S), self.stop)
            if not ready and not self.stop.is_set():
                problem = "no SettingsApplied"
            previous = time.monotonic()
        for step in self.script.steps:
            await self._wait_moment(step, previous)
            await self._wait_for_the_service(speech=step.kind == "speech")
            if self.ws.state.name != "OPEN" or self.stop.is_set():
                break
            await self._do(step)
            previous = self.last_sent
        await self._settle()
        return problem

    async def _wait_for_the_service(self, speech: bool = False) -> None:
        """Send nothing while the service is about to answer a spoken turn by itself (see service_answer_pending),
        and no speech while the proxy may still ask for a response (its response.create would race the one the
        service starts for the utterance) or the previous spoken turn is not committed yet; bounded, so that
        nothing holds a session up for long. A reply may stream meanwhile: an utterance during a reply
        (interrupting it) is generated."""
        await self.record.wait_for(lambda: not service_answer_pending(self.record.frames) and not (
            speech and (proxy_owes_a_response(self.record.frames) or self._uncommitted())), MOMENT_TIMEOUT_S,
            self.stop)

    def _uncommitted(self) -> bool:
        """A spoken turn the client sent that the service has not committed yet (a proxy that holds audio back,
        e.g. until the session is ready, would hand the service two utterances at once)."""
        committed = sum(f.route == UPSTREAM_TO_PROXY and f.type == "input_audio_buffer.committed"
                        for f in self.record.frames)
        return committed < self.spoken

    async def _wait_moment(self, step: Step, since: float) -> None:
        when = step.when
        if when.after != "previous":
            match = {"reply_delta": lambda f: f.route == UPSTREAM_TO_PROXY and f.type in DELTAS,
                     "response_created": lambda f: f.route == UPSTREAM_TO_PROXY and f.type == "response.created",
                     "assistant_text": lambda f: f.route == PROXY_TO_CLIENT and f.type == "ConversationText"
                     and f.role == "assistant"}[when.after]
            # A moment that cannot come any more (nothing in flight) is not waited for.
            await self.record.wait_for(lambda: any(f.t > since and match(f) for f in self.record.frames)
                                       or not (self.pending or in_flight(self.record.frames)), MOMENT_TIMEOUT_S,
                                       self.stop)
            since = time.monotonic()
        delay = since + when.ms / 1000 - time.monotonic()
        if delay > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)

    async def _do(self, step: Step) -> None:
        if step.kind == "inject":
            await self._send(json.dumps({"type": "InjectUserMessage", "content": step.text}))
        elif step.kind == "keepalive":
            await self._send(json.dumps({"type": "KeepAlive"}))
        elif step.kind == "speech":
            await self._send(explore_model.speech_pcm(step.speech_ms))
            self.spoken += 1
        else:
            chunk = explore_model.silence_pcm(step.chunk_bytes)
            for _ in range(step.chunks):
                await self._send(chunk)

    async def _send(self, data: str | bytes) -> None:
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            pass
        self.last_sent = time.monotonic()

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    self._on_text(message)
        except ConnectionClosed:
            pass

    def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "FunctionCallRequest":
            return
        calls = message.get("functions") if isinstance(message.get("functions"), list) else [message]
        for call in calls:
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                task = asyncio.ensure_future(self._answer(call))
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)

    async def _answer(self, call: dict) -> None:
        await asyncio.sleep(self.script.function_reply_ms / 1000)
        await self._wait_for_the_service()
        await self._send(json.dumps({"type": "FunctionCallResponse", "id": call["id"], "name": call.get("name"),
                                     "content": json.dumps({"ok": True})}))

    def _seen(self, route: Route, type_: str, after: float) -> bool:
        return any(f.route == route and f.type == type_ and f.t > after for f in self.record.frames)

    async def _settle(self) -> None:
        """Wait until nothing is in flight and both legs are quiet, or long quiet, or the cap."""
        cap = time.monotonic() + SESSION_CAP_S
        while True:
            frames = self.record.frames
            now = time.monotonic()
            quiet = now - max([self.last_sent] + [f.t for f in frames[-1:]])
            if any(f.kind == "close" for f in frames) or now >= cap or quiet >= stuck_after(frames) or \
                    self.stop.is_set():
                return
            if quiet >= SHORT_QUIET_S and not self.pending and not in_flight(frames):
                return
            self.record.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.record.changed.wait(), POLL_S)

    async def close(self) -> None:
        for task in list(self.pending):
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


def stuck_after(frames: list[Frame]) -> float:
    """How long both legs must be quiet before a session with something in flight is over, so that the recording
    covers the horizon its judges need: past FN-1's bound (from the catalogue) while the latest client stimulus is a
    FunctionCallResponse with no response.create after it (a late follow-up is found by the bound, not by waiting
    for it); past the horizon of a lost turn (turns.lost_after_s) while a typed or spoken turn has no response
    started after it (the proxy may still be about to answer it: a loaded machine delays it, never the verdict);
    else LONG_QUIET_S. The quiet counts from the last frame, which is no earlier than the moments the horizons count
    from."""
    stimulus = next((f for f in reversed(frames) if (f.route == CLIENT_TO_PROXY and f.type in STIMULI)
                     or (f.route == UPSTREAM_TO_PROXY and f.type == "input_audio_buffer.committed")), None)
    if stimulus is None:
        return LONG_QUIET_S
    if stimulus.type == "FunctionCallResponse":
        if any(f.route == PROXY_TO_UPSTREAM and f.type == "response.create" and f.t > stimulus.t for f in frames):
            return LONG_QUIET_S
        return max(LONG_QUIET_S, follow_up_within_s() + FN_1_MARGIN_S)
    if any(f.route == UPSTREAM_TO_PROXY and f.type == "response.created" and f.t > stimulus.t for f in frames):
        return LONG_QUIET_S
    return max(LONG_QUIET_S, lost_after_s() + LOST_MARGIN_S)


def service_answer_pending(frames: list[Frame]) -> bool:
    """The service committed a spoken turn and, its server VAD creating responses, has not sent that response's
    response.created yet. The mock starts that response only after its confirmation latency (a real service sends
    it right after the commit): a client step in that window would race a response the proxy cannot know of yet
    (its response.create rejected as a second active response, or an utterance that neither interrupts nor gets
    answered), a race of the mock's making, no finding about the proxy."""
    detection, pending = SERVICE_DEFAULT, False
    for f in frames:
        if f.route.leg != UPSTREAM_LEG:
            continue
        detection = set_by(f, detection)
        if f.route == UPSTREAM_TO_PROXY and f.type == "input_audio_buffer.committed":
            pending = detection.create_response
        elif f.route == UPSTREAM_TO_PROXY and f.type == "response.created":
            pending = False
    return pending


def in_flight(frames: list[Frame]) -> bool:
    """Something the session still waits for: a response not done, a created item not confirmed, a client
    stimulus (message, function result) or a spoken turn the service committed with no response created after
    it."""
    created, done = set(), set()
    for f in frames:
        if f.route == UPSTREAM_TO_PROXY and f.type == "response.created":
            created.add(f.response_id)
        elif f.route == UPSTREAM_TO_PROXY and f.type == "response.done":
            done.add(f.response_id)
    return bool(created - done) or proxy_owes_a_response(frames, spoken=True)


def proxy_owes_a_response(frames: list[Frame], spoken: bool = False) -> bool:
    """An item the proxy made not confirmed yet, or a client stimulus (message, function result; with spoken, also
    a spoken turn the service committed) with no response created after it: a response.create may still come."""
    items, confirmed = set(), set()
    last_stimulus = last_created = None
    for f in frames:
        if f.route == UPSTREAM_TO_PROXY:
            if f.type == "response.created":
                last_created = f.t
            elif f.type in CONFIRMATIONS:
                confirmed.add(f.item_id)
            elif f.type == "input_audio_buffer.committed" and spoken:
                last_stimulus = f.t
        elif f.route == PROXY_TO_UPSTREAM and f.type == "conversation.item.create" and f.item_id:
            items.add(f.item_id)
        elif f.route == CLIENT_TO_PROXY and f.type in STIMULI:
            last_stimulus = f.t
    answered = last_stimulus is None or (last_created is not None and last_created > last_stimulus)
    return bool(items - confirmed) or not answered


class Runner:
    """Lanes on one background loop; proxies started at once and stopped (with their process groups) on exit."""

    def __init__(self, profile: Profile, defect: str | None, variant: str | None, lanes: int, log_dir: Path):
        self.loop = LoopThread("harness-explore")
        self.lanes = [Lane(i + 1, profile, defect, variant, log_dir) for i in range(lanes)]
        self._next_lane = itertools.count()
        self._reviving = threading.Lock()      # run_batch is called from several threads

    def __enter__(self) -> "Runner":
        try:
            for lane in self.lanes:
                self.loop.run(lane.start_servers())
            with ThreadPoolExecutor(len(self.lanes)) as pool:
                for future in [pool.submit(lane.proxy.start) for lane in self.lanes]:
                    future.result()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for lane in self.lanes:
            if lane.proxy is not None:
                lane.proxy.stop(grace_s=2.0)
        with contextlib.suppress(Exception):
            for lane in self.lanes:
                self.loop.run(lane.stop_servers(), timeout=units(3))
        self.loop.stop()

    def revive(self) -> None:
        """Restart the proxy of any lane whose proxy exited (a defect that crashes it must not end the run)."""
        with self._reviving:
            for lane in self.lanes:
                if lane.proxy is not None and not lane.proxy.running:
                    lane.proxy.stop(grace_s=0.5)
                    lane.proxy.start()

    def run_batch(self, sessions: list[Session],
                  stop_on: Callable[[list[Violation]], bool] | None = None) -> list[SessionResult]:
        """Run the sessions at the same time, each on the next lane in turn (so the sessions of one batch are on
        different lanes, as many as there are); their results in the same order. With stop_on, a session is cut
        short as soon as its timeline shows a violation stop_on wants."""
        self.revive()
        first = next(self._next_lane)

        async def batch() -> list[SessionResult]:
            lanes = [self.lanes[(first + i) % len(self.lanes)] for i in range(len(sessions))]
            return list(await asyncio.gather(*(lane.run(s, asyncio.Event(), stop_on)
                                               for lane, s in zip(lanes, sessions))))

        return self.loop.run(batch(), timeout=units(SESSION_CAP_S + 30))
