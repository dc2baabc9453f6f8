"""A websockets server on loopback whose port the OS chooses unless one is given."""

from __future__ import annotations

import logging

from websockets.asyncio.server import Server, ServerConnection, serve

log = logging.getLogger("mock_upstream")


class Listener:
    """errors: what went wrong inside a connection's handler, one line each (the harness's own fault, which
    the test that saw it reports as an error, never as the proxy's failure)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self._port = host, port
        self._server: Server | None = None
        self.errors: list[str] = []

    @property
    def port(self) -> int:
        assert self._server is not None, f"{type(self).__name__} not started"
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(self._guarded, self.host, self._port, max_size=None,
                                   process_request=self._process_request, open_timeout=60)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _process_request(self, connection: ServerConnection, request):
        """Before the handshake completes: None accepts it; a Response refuses it."""
        return None

    async def _guarded(self, ws: ServerConnection) -> None:
        try:
            await self._handle(ws)
        except Exception as exc:  # a bug here must surface in the test, not vanish in the loop's thread
            log.exception("%s: a connection's handler failed", type(self).__name__)
            self.errors.append(f"{type(exc).__name__}: {exc}")

    async def _handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError
