"""A recording relay: accepts WebSocket clients and forwards each to a target, frame by frame.

Used as the client tap (leg A: browser -> relay -> proxy). Path and query string
pass through unchanged, so apps may add their own parameters. Closes are mirrored
with the same code and reason, and the side that closed first is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .listener import Listener
from .recording import DOWN, UP, Recorder

log = logging.getLogger("relay")

# Codes that may not be sent in a close frame: mirror them as "internal error".
_UNSENDABLE = {1005, 1006, 1015}


class Relay(Listener):
    def __init__(self, recorder: Recorder, leg: str, target: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.recorder, self.leg, self.target = recorder, leg, target.rstrip("/")
        self._ids = itertools.count(1)

    def url(self, path: str = "") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    async def _handle(self, client: ServerConnection) -> None:
        conn = next(self._ids)
        try:
            upstream = await connect(self.target + client.request.path, max_size=None, open_timeout=10)
        except (OSError, InvalidHandshake, InvalidURI, asyncio.TimeoutError) as exc:
            reason = f"relay could not reach {self.target}: {type(exc).__name__}"
            self.recorder.close(self.leg, DOWN, conn, 1011, reason)
            await client.close(1011, reason[:120])
            return
        first: list[str] = []
        async with upstream:
            await asyncio.gather(
                self._pump(client, upstream, UP, conn, first),
                self._pump(upstream, client, DOWN, conn, first),
            )

    async def _pump(self, source, sink, arrow: str, conn: int, first: list[str]) -> None:
        try:
            async for message in source:
                if isinstance(message, bytes):
                    self.recorder.binary(self.leg, arrow, conn, message)
                else:
                    self.recorder.text(self.leg, arrow, conn, message)
                await sink.send(message)
        except ConnectionClosed:
            pass
        if first:
            return
        first.append(arrow)
        rcvd = source.protocol.close_rcvd
        code = rcvd.code if rcvd else 1006
        reason = rcvd.reason if rcvd else ""
        self.recorder.close(self.leg, arrow, conn, code, reason)
        if code in _UNSENDABLE:
            await sink.close(1011, f"peer closed abnormally ({code})")
        else:
            await sink.close(code, reason)
