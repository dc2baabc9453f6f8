"""A headless component-protocol client, for what a browser cannot send: malformed frames, unknown types,
huge frames, frames before Settings, raw audio. It connects through the client tap, so leg A is recorded."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from voice_harness.timeouts import units

SETTINGS = {"type": "Settings",
            "audio": {"input": {"encoding": "linear16", "sample_rate": 24000},
                      "output": {"encoding": "linear16", "sample_rate": 24000}},
            "agent": {"think": {"provider": {"type": "open_ai", "model": "gpt-realtime"},
                                "prompt": "You are a helpful test agent."}}}


def settings(**agent: Any) -> dict:
    """A Settings message; agent fields given here are merged into agent (think is merged too)."""
    message = json.loads(json.dumps(SETTINGS))
    think = agent.pop("think", {})
    message["agent"]["think"].update(think)
    message["agent"].update(agent)
    return message


class WireClient:
    def __init__(self, url: str):
        self.url = url
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(url, open_timeout=units(10), max_size=None, close_timeout=units(2)))
        self.received: list[Any] = []

    def send(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def send_raw(self, data: str | bytes) -> None:
        self.ws.send(data)

    def configure(self, **agent: Any) -> dict | None:
        """Send Settings and wait for SettingsApplied; the message, or None (also when the connection closed)."""
        try:
            self.send(settings(**agent))
        except ConnectionClosed:
            return None
        return self.expect("SettingsApplied")

    def expect(self, type_: str, timeout: float | None = None) -> dict | None:
        """The next text message of this type (earlier ones are kept in `received`), or None."""
        for message in self.messages(timeout):
            if isinstance(message, dict) and message.get("type") == type_:
                return message
        return None

    def messages(self, timeout: float | None = None):
        """Yield received messages (parsed JSON, or bytes) until the timeout or the close."""
        end = time.monotonic() + (units(10) if timeout is None else timeout)
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            try:
                raw = self.ws.recv(timeout=remaining)
            except TimeoutError:
                return
            except ConnectionClosed:
                return
            message = raw if isinstance(raw, bytes) else _parse(raw)
            self.received.append(message)
            yield message

    def wait_closed(self, timeout: float) -> tuple[int, str] | None:
        """(code, reason) once the proxy closed the connection, or None if it is still open."""
        for _ in self.messages(timeout):
            pass
        rcvd = self.ws.protocol.close_rcvd
        if rcvd is None:
            return None
        return rcvd.code, rcvd.reason

    def close(self, wait_s: float | None = None) -> None:
        """Close the connection; wait up to `wait_s` (default: the connection's 2 units) for the close handshake and
        the proxy's end of the socket."""
        if wait_s is not None:
            self.ws.close_timeout = wait_s
        try:
            self._stack.close()
        except Exception:  # already gone: nothing to release
            pass


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
