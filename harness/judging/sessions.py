"""One recorded session's shape, read from a timeline: its connections per leg, which upstream connection served
which client connection, and the upstream's responses. The primitives the pure judges (invariants.py,
agent_signals.py, errors.py, turn_detection.py, turns.py) share; pure functions, no waiting, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from voice_harness.judging.timeline import (CLIENT_LEG, CLIENT_TO_PROXY, UP, UPSTREAM_LEG, UPSTREAM_TO_PROXY, Frame,
                                            Timeline)


@dataclass(frozen=True)
class Violation:
    req: str
    reason: str
    anchors: tuple[Frame, ...] = ()


def at(timeline: Timeline, frame: Frame) -> str:
    """How a reason names a frame: its label and its time from the test's start."""
    return f"{frame.label()} at {timeline.offset(frame):.3f} s"


def connections(timeline: Timeline, leg: str) -> dict[int, list[Frame]]:
    """The frames of each connection of one leg, in order."""
    conns: dict[int, list[Frame]] = {}
    for frame in timeline.frames:
        if frame.leg == leg:
            conns.setdefault(frame.conn, []).append(frame)
    return conns


def _opened(frames: list[Frame]) -> float:
    """When a connection was in use by its client side: its first frame toward the upstream (the proxy speaks to
    the upstream only once its client spoke to it, while the upstream may greet first), else its first frame."""
    return next((f.t for f in frames if f.arrow == UP), frames[0].t)


def upstream_connections(timeline: Timeline) -> dict[int, list[int]]:
    """For each client connection (leg A), the upstream connections (leg B) the proxy opened for it, in order:
    each upstream connection belongs to the latest client connection that was in use before it (or to the first
    one, when none was). The recording has no open events, so this reads the order of first frames; concurrent
    client connections are not told apart (no test here opens two at once)."""
    a = connections(timeline, CLIENT_LEG)
    b = connections(timeline, UPSTREAM_LEG)
    clients = sorted(a, key=lambda k: _opened(a[k]))
    served: dict[int, list[int]] = {k: [] for k in clients}
    if not clients:
        return served
    for conn in sorted(b, key=lambda k: _opened(b[k])):
        before = [k for k in clients if _opened(a[k]) <= _opened(b[conn])]
        served[before[-1] if before else clients[0]].append(conn)
    return served


def frames_of(timeline: Timeline, client_conn: int) -> list[Frame]:
    """The frames of one client connection and of the upstream connections opened for it, in time order."""
    upstream = set(upstream_connections(timeline).get(client_conn, []))
    return [f for f in timeline.frames if (f.leg == CLIENT_LEG and f.conn == client_conn) or
            (f.leg == UPSTREAM_LEG and f.conn in upstream)]


@dataclass
class Response:
    """One response of the upstream: its response.created and, once it finished, its response.done."""

    id: str | None
    created: Frame
    done: Frame | None = None

    def active_at(self, t: float) -> bool:
        return self.created.t < t and (self.done is None or self.done.t > t)


def responses(frames: Iterable[Frame]) -> list[Response]:
    """The responses the upstream announced in these frames, in order, each with its response.done (matched by
    response id) when it came."""
    found: dict[str | None, Response] = {}
    order = []
    for frame in frames:
        if frame.route != UPSTREAM_TO_PROXY:
            continue
        if frame.type == "response.created":
            found[frame.response_id] = Response(frame.response_id, frame)
            order.append(found[frame.response_id])
        elif frame.type == "response.done" and frame.response_id in found and found[frame.response_id].done is None:
            found[frame.response_id].done = frame
    return order


def injected_texts(timeline: Timeline) -> set[str] | None:
    """The texts the client sent as InjectUserMessage; None when leg A was not recorded (every user item counts)."""
    if not any(f.leg == CLIENT_LEG for f in timeline.frames):
        return None
    return {f.message.get("content") for f in timeline.select(route=CLIENT_TO_PROXY, type="InjectUserMessage")}


def item_text(frame: Frame) -> str | None:
    event = frame.message
    item = event.get("item") if event is not None else None
    parts = item.get("content") if isinstance(item, dict) else None
    if not isinstance(parts, list):
        return None
    # A part whose text is no string (a proxy's malformed item, WIRE-3's) adds nothing, and crashes no check.
    return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
