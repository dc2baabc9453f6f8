"""A websockets server on loopback whose port the OS chooses unless one is given."""

from __future__ import annotations

from websockets.asyncio.server import Server, ServerConnection, serve


class Listener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self._port = host, port
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, f"{type(self).__name__} not started"
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(self._handle, self.host, self._port, max_size=None,
                                   process_request=self._process_request, open_timeout=60)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _process_request(self, connection: ServerConnection, request):
        """Before the handshake completes: None accepts it; a Response refuses it."""
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError
