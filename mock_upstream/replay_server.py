"""The websockets adapter around replay sessions: a cassette served as the upstream, every frame recorded.

use(cassette) sets the recording for the next test; its k-th connection plays the cassette's k-th recorded
connection. A divergence (the proxy sent what the cassette did not have) is kept in `divergences`, and the
connection is closed with 1011: the test that saw it is an error (the recording does not cover what the proxy
did), never the proxy's failure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voice_harness.mock_upstream.due_queue import DueQueue
from voice_harness.mock_upstream.replay import Divergence, Due, ReplaySession
from voice_harness.wire.cassette import Cassette
from voice_harness.wire.listener import Listener
from voice_harness.wire.recording import DOWN, UP, UPSTREAM_LEG, Recorder, parse_text

LEG = UPSTREAM_LEG   # the mock stands where the upstream is
DIVERGED = 1011


class ReplayUpstream(Listener):
    def __init__(self, recorder: Recorder, speed: float = 1.0, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.recorder, self.speed = recorder, speed
        self.cassette: Cassette | None = None
        self.divergences: list[str] = []
        self.sessions: list[tuple[ReplaySession, "_Connection"]] = []
        self._ids = itertools.count(1)
        self._opened = 0

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/realtime?model=gpt-realtime"

    def use(self, cassette: Cassette | None) -> None:
        """The cassette for the next test. Fresh lists: a late frame of an earlier test's connection lands in that
        test's lists, never in the next one's."""
        self.cassette, self.divergences, self.sessions, self._opened = cassette, [], [], 0
        self.errors = []

    def stalls(self) -> list[str]:
        """Why this test's open connections wait for what the cassette holds back (see ReplaySession.held_back)."""
        return [why for session, connection in self.sessions
                if not connection.closed and (why := session.held_back()) is not None]

    async def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._ids)
        index, self._opened = self._opened, self._opened + 1
        recorded = self.cassette.connections if self.cassette is not None else []
        if index >= len(recorded):
            why = (f"replay diverged: the proxy opened upstream connection {index + 1}; the cassette recorded "
                   f"{len(recorded)}")
            self.divergences.append(why)
            self.recorder.close(LEG, DOWN, conn, DIVERGED, "replay: not in the cassette")
            await ws.close(DIVERGED, "replay: not in the cassette")
            return
        session = ReplaySession(recorded[index], self.speed)
        connection = _Connection(ws, conn, session, self)
        self.sessions.append((session, connection))
        await connection.run()


class _Connection:
    def __init__(self, ws: ServerConnection, conn: int, session: ReplaySession, server: ReplayUpstream):
        self.ws, self.conn, self.session, self.server = ws, conn, session, server
        self.recorder = server.recorder
        self.divergences = server.divergences     # this test's, even if the frame comes after the next use()
        self.closed = False
        self._due = DueQueue()
        self._closing = False

    async def run(self) -> None:
        sender = asyncio.create_task(self._due.run(self._carry_out))
        try:
            self._apply(self.session.open(time.monotonic()))
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.recorder.binary(LEG, UP, self.conn, message)
                    event = None
                else:
                    frame = self.recorder.text(LEG, UP, self.conn, message)
                    event = parse_text(message)[0] if frame.data is not None else None
                try:
                    self._apply(self.session.receive(now, event))
                except Divergence as exc:
                    self.divergences.append(str(exc))
                    await self._close({"code": DIVERGED, "reason": "replay: the cassette does not cover this"})
                    break
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            sender.cancel()
            if not self._closing:
                rcvd = self.ws.protocol.close_rcvd
                self.recorder.close(LEG, UP, self.conn, rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "")
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()

    def _apply(self, due: list[Due]) -> None:
        for item in due:
            self._due.put(item.at, item)

    async def _carry_out(self, item: Due) -> bool:
        if item.close is not None:
            await self._close(item.close)
            return False
        try:
            if item.entry.binary is not None:
                self.recorder.binary(LEG, DOWN, self.conn, item.entry.binary)
                await self.ws.send(item.entry.binary)
            else:
                text = json.dumps(item.entry.event) if item.entry.event is not None else (item.entry.text or "")
                self.recorder.text(LEG, DOWN, self.conn, text)
                await self.ws.send(text)
        except ConnectionClosed:
            return False
        return True

    async def _close(self, close: dict) -> None:
        if self._closing or self.ws.close_code is not None:
            return
        self._closing = True
        code = close.get("code") or 1000
        code = code if code not in (1005, 1006, 1015) else 1011
        reason = (close.get("reason") or "")[:120]
        self.recorder.close(LEG, DOWN, self.conn, code, reason)
        await self.ws.close(code, reason)

