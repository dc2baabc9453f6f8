"""The websockets adapter around the engine: carries out its actions at their times, records every frame."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voice_harness.wire.listener import Listener
from voice_harness.mock_upstream.due_queue import DueQueue
from voice_harness.mock_upstream.engine import CloseSocket, Engine, Outcome, Retract, Send
from voice_harness.wire.recording import DOWN, UP, UPSTREAM_LEG, Recorder
from voice_harness.mock_upstream.scenario import Scenario

LEG = UPSTREAM_LEG   # the mock stands where the upstream is


class MockUpstream(Listener):
    """A mock Realtime service on 127.0.0.1; the scenario in force is read at each connect."""

    def __init__(self, recorder: Recorder, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.recorder = recorder
        self.scenario = Scenario()
        self.engines: list[Engine] = []
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/realtime?model=gpt-realtime"

    async def _process_request(self, connection: ServerConnection, request):
        if self.scenario.handshake == "reject":
            return connection.respond(503, "The service is unavailable (scenario handshake=reject).\n")
        if self.scenario.handshake == "stall":
            # Never answer: the client's own open timeout must end the attempt; then this one ends too.
            await connection.wait_closed()
            return connection.respond(503, "stalled\n")
        return None

    def use(self, scenario: Scenario) -> None:
        """Make scenario the one for new connections, and forget earlier connections' rule use."""
        self.scenario = scenario
        self.engines = []
        self.errors = []

    async def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._ids)
        engine = Engine(self.scenario, conn, track_delivery=True)
        self.engines.append(engine)
        await _Connection(ws, conn, engine, self.recorder).run()


class _Connection:
    def __init__(self, ws: ServerConnection, conn: int, engine: Engine, recorder: Recorder):
        self.ws, self.conn, self.engine, self.recorder = ws, conn, engine, recorder
        self._due = DueQueue()
        self._closing = False
        self._retracted: dict[str, float] = {}   # chain -> its events due after this time are never sent

    async def run(self) -> None:
        sender = asyncio.create_task(self._due.run(self._send))
        try:
            self._apply(self.engine.connect(time.monotonic()))
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    frame = self.recorder.binary(LEG, UP, self.conn, message)
                    outcome = self.engine.receive_binary(now, message)
                else:
                    frame = self.recorder.text(LEG, UP, self.conn, message)
                    outcome = self.engine.receive_text(now, message)
                self.recorder.annotate(frame, outcome.note)
                self._apply(outcome)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            if not self._closing:
                rcvd = self.ws.protocol.close_rcvd
                self.recorder.close(LEG, UP, self.conn, rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "")
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()   # the sender's fault is the mock's: the listener records it

    def _apply(self, outcome: Outcome) -> None:
        loop = asyncio.get_running_loop()
        for action in outcome.actions:
            if isinstance(action, Send):
                self._due.put(action.at, action)
            elif isinstance(action, Retract):
                self._retracted[action.chain] = min(action.at, self._retracted.get(action.chain, action.at))
            elif isinstance(action, CloseSocket):
                loop.call_at(action.at, lambda a=action: asyncio.ensure_future(self._close(a)))

    async def _send(self, action: Send) -> bool:
        if action.at > self._retracted.get(action.chain, action.at):
            return True   # its response was cancelled before it was due
        text = json.dumps(action.event)
        # Before the send: once the frame is written, the proxy may answer it before this coroutine resumes
        # (send() writes before its first await), and the answer must not be recorded first.
        self.engine.delivered(action.event)
        self.recorder.text(LEG, DOWN, self.conn, text)
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            return False   # the proxy closed its upstream: the receive loop records the close
        return True

    async def _close(self, action: CloseSocket) -> None:
        if self._closing or self.ws.close_code is not None:
            return
        self._closing = True
        self.recorder.close(LEG, DOWN, self.conn, action.code, action.reason)
        await self.ws.close(action.code, action.reason)
