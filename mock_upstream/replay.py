"""Replay: a recorded upstream session served again, reacting to what the proxy sends. Pure: no sockets, no clocks.

One ReplaySession per live connection, playing one recorded connection of a cassette. The recorded server
events are split into steps: those before the first client event follow the connection's open; those after a
client event (up to the next) follow it. Each live client event is matched with the next recorded client event:
the same type continues the replay, and the server events that followed it are due at their recorded delays
after it (divided by `speed`), never before the ones due earlier, so their recorded order holds. Ids the proxy
chose (items, events, calls) are renumbered: a recorded id is replaced with the live one wherever the server
events repeat it. A recorded close by the server happens at its recorded delay after the client event (or the
open) that last preceded it. Anything else the proxy sends is a Divergence: the cassette does not say what the
service would do then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voice_harness.wire.cassette import CLIENT, SERVER, Connection, Entry

ID_KEYS = ("id", "item_id", "event_id", "previous_item_id", "call_id", "response_id")


class Divergence(Exception):
    """The proxy sent what the cassette did not have at this point."""

    def __init__(self, connection: int, index: int, expected: str | None, got: str | None, context: list[str]):
        self.connection, self.index, self.expected, self.got, self.context = connection, index, expected, got, context
        want = f"`{expected}`" if expected else "nothing more (the recorded session had no further client event)"
        seen = " → ".join(context[-4:]) if context else "the start of the connection"
        super().__init__(f"replay diverged on upstream connection {connection} at client event {index + 1}: the "
                         f"cassette expects {want}, the proxy sent `{got}` (recorded before it: {seen})")


@dataclass(frozen=True)
class Due:
    """Send `entry` (a server event or binary frame) at `at`; or, with `close`, close with its code and reason."""
    at: float
    entry: Entry | None = None
    close: dict | None = None


@dataclass
class ReplaySession:
    connection: Connection
    speed: float = 1.0
    ids: dict[str, str] = field(default_factory=dict)     # recorded id -> live id
    _next: int = 0                                         # index of the next recorded client event
    _last_due: float = float("-inf")
    _seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._clients = [i for i, e in enumerate(self.connection.entries) if e.source == CLIENT]
        # The step a recorded server close follows: the last client event before it (-1: the open).
        close = self.connection.close
        self._close_step = None
        if close is not None and close.get("by") == SERVER:
            before = [k for k, i in enumerate(self._clients) if self.connection.entries[i].t <= close["t"]]
            self._close_step = before[-1] if before else -1

    def open(self, now: float) -> list[Due]:
        """What follows the connection's open: the server events recorded before the first client event."""
        end = self._clients[0] if self._clients else len(self.connection.entries)
        return self._schedule(now, self.connection.opened, 0, end, step=-1)

    def receive(self, now: float, event: Any) -> list[Due]:
        """A client event from the live proxy: its recorded counterpart's server events, or Divergence."""
        got = event.get("type") if isinstance(event, dict) else None
        if self._next >= len(self._clients):
            raise Divergence(self.connection.number, self._next, None, got or "(not a JSON event)", self._seen)
        index = self._clients[self._next]
        recorded = self.connection.entries[index]
        if recorded.type != got:
            raise Divergence(self.connection.number, self._next, recorded.type, got or "(not a JSON event)",
                             self._seen)
        self._next += 1
        self._seen.append(got or "")
        if isinstance(event, dict) and recorded.event is not None:
            _learn_ids(recorded.event, event, self.ids)
        end = self._clients[self._next] if self._next < len(self._clients) else len(self.connection.entries)
        return self._schedule(now, recorded.t, index + 1, end, step=self._next - 1)

    def _schedule(self, now: float, since: float, start: int, end: int, step: int) -> list[Due]:
        due = []
        for entry in self.connection.entries[start:end]:
            if entry.source != SERVER:
                continue
            at = max(now + max(0.0, entry.t - since) / self.speed, self._last_due)
            self._last_due = at
            event = renumbered(entry.event, self.ids) if entry.event is not None else None
            due.append(Due(at, Entry(entry.t, SERVER, event, entry.binary, entry.text)))
        close = self.connection.close
        if step == self._close_step:   # never ahead of the events recorded before it
            due.append(Due(max(now + max(0.0, close["t"] - since) / self.speed, self._last_due), close=close))
        return due

    def held_back(self) -> str | None:
        """What the recording still has for the proxy but will only send after a client event the proxy has not
        sent: why a proxy that did less than the recorded one waits in vain (None when nothing is held back)."""
        if self._next >= len(self._clients):
            return None
        index = self._clients[self._next]
        waiting = [e for e in self.connection.entries[index + 1:] if e.source == SERVER]
        if not waiting:
            return None
        expected = self.connection.entries[index].type
        return (f"replay stalled on upstream connection {self.connection.number}: the cassette's "
                f"`{waiting[0].type or 'frame'}` (and {len(waiting) - 1} more server events) follows a `{expected}` "
                f"the proxy has not sent; the recording does not say what the service would do without it")


def _learn_ids(recorded: Any, live: Any, ids: dict[str, str]) -> None:
    """Pair the ids of a recorded client event with the live one's, key by key."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        for key, value in recorded.items():
            other = live.get(key)
            if key in ID_KEYS and isinstance(value, str) and isinstance(other, str) and value != other:
                ids.setdefault(value, other)
            else:
                _learn_ids(value, other, ids)
    elif isinstance(recorded, list) and isinstance(live, list):
        for a, b in zip(recorded, live):
            _learn_ids(a, b, ids)


def renumbered(value: Any, ids: dict[str, str]) -> Any:
    """value with every string that is a recorded id replaced by its live counterpart."""
    if not ids:
        return value
    if isinstance(value, dict):
        return {k: renumbered(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [renumbered(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value
