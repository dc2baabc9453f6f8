"""The socket side of the reference proxy: one Session per client, both sockets pumped into it."""

from __future__ import annotations

import asyncio
import json
import logging
import os

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.http11 import Response

from voice_harness.reference_proxy.session import (Action, CloseClient, CloseUpstream, Log, Session, StartTimer,
                                                   ToClient, ToClientAudio, ToUpstream, ToUpstreamBinary)

log = logging.getLogger("reference_proxy")

PATH = "/openai"
MAX_FRAME = 1 << 20          # larger client frames are refused with close 1009


class Proxy:
    def __init__(self, upstream_url: str, session_class: type[Session] = Session):
        self.upstream_url = upstream_url
        self.session_class = session_class
        self._timers: dict[int, list[asyncio.TimerHandle]] = {}

    async def serve(self, host: str, port: int):
        return await serve(self._handle, host, port, process_request=self._check_path, max_size=MAX_FRAME)

    @staticmethod
    def _check_path(connection: ServerConnection, request) -> Response | None:
        if request.path.split("?", 1)[0] != PATH:
            return connection.respond(404, f"serving the component protocol at {PATH} only\n")
        return None

    async def _handle(self, client: ServerConnection) -> None:
        session = self.session_class()
        peer = f"{client.remote_address[0]}:{client.remote_address[1]}"
        log.info("client %s connected", peer)
        headers = {}
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            upstream = await connect(self.upstream_url, additional_headers=headers, max_size=None,
                                     open_timeout=session.upstream_open_timeout_s)
        except (OSError, InvalidHandshake, InvalidURI, asyncio.TimeoutError) as exc:
            log.warning("upstream unreachable: %s", type(exc).__name__)
            await self._carry_out(session.on_upstream_unreachable(f"upstream unreachable: {type(exc).__name__}"),
                                  client, None)
            return
        timers: list[asyncio.TimerHandle] = []
        self._timers[id(session)] = timers
        try:
            async with upstream:
                await asyncio.gather(self._from_client(session, client, upstream),
                                     self._from_upstream(session, client, upstream))
        finally:
            for timer in self._timers.pop(id(session), []):
                timer.cancel()
        log.info("client %s done", peer)

    async def _from_client(self, session: Session, client: ServerConnection, upstream: ClientConnection) -> None:
        try:
            async for message in client:
                if isinstance(message, bytes):
                    actions = session.on_client_binary(message)
                else:
                    actions = session.on_client_text(message)
                await self._carry_out(actions, client, upstream, session)
        except ConnectionClosed:
            pass
        if not session.closed:
            await self._carry_out(session.on_client_closed(), client, upstream, session)

    async def _from_upstream(self, session: Session, client: ServerConnection, upstream: ClientConnection) -> None:
        try:
            async for message in upstream:
                if isinstance(message, str):
                    log.debug("upstream event %s", message[:80])
                    await self._carry_out(session.on_upstream_text(message), client, upstream, session)
        except ConnectionClosed:
            pass
        if not session.closed:
            rcvd = upstream.protocol.close_rcvd
            actions = session.on_upstream_closed(rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "")
            await self._carry_out(actions, client, upstream, session)

    def _start_timer(self, action: StartTimer, session: Session, client: ServerConnection,
                     upstream: ClientConnection | None) -> None:
        def fire() -> None:
            asyncio.ensure_future(self._carry_out(session.on_timer(action.key), client, upstream, session))

        handle = asyncio.get_running_loop().call_later(action.seconds, fire)
        self._timers.setdefault(id(session), []).append(handle)

    async def _carry_out(self, actions: list[Action], client: ServerConnection,
                         upstream: ClientConnection | None, session: Session | None = None) -> None:
        for action in actions:
            try:
                if isinstance(action, ToUpstream) and upstream is not None:
                    log.info("-> upstream %s", action.event["type"])
                    await upstream.send(_json(action.event))
                elif isinstance(action, ToUpstreamBinary) and upstream is not None:
                    await upstream.send(action.data)
                elif isinstance(action, ToClient):
                    log.info("-> client %s", action.message["type"])
                    await client.send(_json(action.message))
                elif isinstance(action, ToClientAudio):
                    await client.send(action.data)
                elif isinstance(action, CloseClient):
                    log.info("closing client: %s %s", action.code, action.reason)
                    await client.close(action.code, action.reason)
                elif isinstance(action, CloseUpstream) and upstream is not None:
                    await upstream.close(action.code, action.reason)
                elif isinstance(action, Log):
                    log.info("%s", action.text)
                elif isinstance(action, StartTimer):
                    self._start_timer(action, session, client, upstream)
            except ConnectionClosed:
                log.info("dropped %s: connection already closed", type(action).__name__)


def _json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))
