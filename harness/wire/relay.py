"""A recording relay: accepts WebSocket clients and forwards each to a target, frame by frame.

Used as the client tap (leg A: browser -> relay -> proxy). Path and query string
pass through unchanged, so apps may add their own parameters. Closes are mirrored
with the same code and reason, and the side that closed first is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import logging

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from voice_harness.wire.listener import Listener
from voice_harness.wire.recording import DOWN, UP, Recorder, parse_text
from voice_harness.wire.tap_rules import TapRules, TapScenario, role_of
from voice_harness.wire.validation import client_event_problems

log = logging.getLogger("relay")

# Codes that may not be sent in a close frame: mirror them as "internal error".
_UNSENDABLE = {1005, 1006, 1015}


class Relay(Listener):
    """forward_headers: handshake headers passed on to the target (the key, for the real API), never recorded.
    validate_upstream: check what goes toward the target as Realtime client events (the tap in real mode)."""

    def __init__(self, recorder: Recorder, leg: str, target: str, host: str = "127.0.0.1", port: int = 0,
                 forward_headers: tuple[str, ...] = (), validate_upstream: bool = False):
        super().__init__(host, port)
        self.recorder, self.leg, self.target = recorder, leg, target.rstrip("/")
        self.forward_headers, self.validate_upstream = forward_headers, validate_upstream
        # Delay, drop and close rules applied to what the target sends (the tap on a real upstream): a scenario
        # of the mock's, read through the TapScenario shape only.
        self.scenario: TapScenario | None = None
        self._ids = itertools.count(1)
        self.opened: dict[int, tuple[float, str]] = {}   # conn -> (when it opened, the request's path)

    def url(self, path: str = "") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    async def _handle(self, client: ServerConnection) -> None:
        conn = next(self._ids)
        self.opened[conn] = (time.monotonic(), client.request.path)
        try:
            headers = {name: client.request.headers[name] for name in self.forward_headers
                       if name in client.request.headers}
            upstream = await connect(self.target + client.request.path, additional_headers=headers,
                                     max_size=None, open_timeout=10)
        except (OSError, InvalidHandshake, InvalidURI, asyncio.TimeoutError) as exc:
            reason = f"relay could not reach {self.target}: {type(exc).__name__}"
            self.recorder.close(self.leg, DOWN, conn, 1011, reason)
            await client.close(1011, reason[:120])
            return
        first: list[str] = []
        rules = TapRules(self.scenario) if self.scenario is not None else None
        async with upstream:
            if rules is not None:
                self._schedule_closes(rules.closes_for(None, None), client, upstream, conn, first)
            await asyncio.gather(
                self._pump(client, upstream, UP, conn, first, rules),
                self._pump(upstream, client, DOWN, conn, first, rules),
            )
            if not first:  # both sends failed at once: the side that sent a close frame closed
                closed_client = client.protocol.close_rcvd is not None
                await self._record_close(client if closed_client else upstream, upstream if closed_client else client,
                                         UP if closed_client else DOWN, conn, first)

    async def _pump(self, source, sink, arrow: str, conn: int, first: list[str], rules: TapRules | None) -> None:
        try:
            async for message in source:
                if isinstance(message, bytes):
                    self.recorder.binary(self.leg, arrow, conn, message)
                else:
                    if rules is not None and arrow == DOWN:
                        data, kind = parse_text(message)
                        if rules.dropped(kind, role_of(data)):
                            continue
                        # Held in this pump, so later events wait too, as behind a slow service.
                        await asyncio.sleep(rules.delay_s(kind, role_of(data)))
                    frame = self.recorder.text(self.leg, arrow, conn, message)
                    if self.validate_upstream and arrow == UP:
                        problems = client_event_problems(frame.data) if frame.data is not None else ["not JSON"]
                        if problems:
                            frame.note["problems"] = problems
                    if rules is not None and arrow == UP:
                        self._schedule_closes(rules.closes_for(frame.type, frame.role), source, sink, conn, first)
                try:
                    await sink.send(message)
                except ConnectionClosed:
                    # The sink closed while this frame was on its way: the close is the sink's (a client that
                    # disconnects during a reply closed, not the proxy). The pump reading the sink records it,
                    # after passing on what the sink sent before its close.
                    return
        except ConnectionClosed:
            pass
        if not first:
            await self._record_close(source, sink, arrow, conn, first)

    async def _record_close(self, closed, other, arrow: str, conn: int, first: list[str]) -> None:
        """Record the close of `closed` (in direction `arrow`) and mirror it to `other`."""
        first.append(arrow)
        rcvd = closed.protocol.close_rcvd
        code = rcvd.code if rcvd else 1006
        reason = rcvd.reason if rcvd else ""
        self.recorder.close(self.leg, arrow, conn, code, reason)
        if code in _UNSENDABLE:
            await other.close(1011, f"peer closed abnormally ({code})")
        else:
            await other.close(code, reason)

    def _schedule_closes(self, closes, client, upstream, conn: int, first: list[str]) -> None:
        """Close as the target would: the client side gets the rule's code; the target is left politely."""
        async def close(rule) -> None:
            await asyncio.sleep(rule.after_ms / 1000)
            if first:
                return
            first.append(DOWN)
            self.recorder.close(self.leg, DOWN, conn, rule.code, rule.reason)
            await client.close(rule.code, rule.reason)
            await upstream.close()

        for rule in closes:
            asyncio.ensure_future(close(rule))
