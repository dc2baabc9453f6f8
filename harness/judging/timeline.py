"""One test's frames of both legs on one clock, with typed selection: by route (leg and direction), type,
role, item id, kind, connection and time. An unknown leg, arrow or kind is an error, never an empty match
(a typo must not make `assert_never` pass).

Checks read a message's fields from `frame.message` (never `frame.data`, which holds what went over the wire). A
binary frame the proxy sent upstream whose bytes are a JSON object is still that message to every check: the
timeline shows it as a `BinaryMessage` (kind stays "binary", so WIRE-2 still names it; `data` stays its bytes for
cassettes and reports; type, role, ids and `message` come from the JSON, so CLI-1 sees a KeepAlive, CLI-2 a
forwarded junk message and MAP-8 a session.update whatever frame they went in)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, fields
from typing import Any, Iterable

# The routes are the frame record's (the wire's, so that Frame.route can be one); checks import them from here.
from voice_harness.wire.recording import (CLIENT_LEG, CLIENT_TO_PROXY, DOWN, PROXY_TO_CLIENT,  # noqa: F401
                                          PROXY_TO_UPSTREAM, UP, UPSTREAM_LEG, UPSTREAM_TO_PROXY, Frame, Route)

WHOLE_LIMIT = 80
LEGS = {CLIENT_LEG: "between the client and the proxy (the client tap)",
        UPSTREAM_LEG: "between the proxy and the upstream"}
ARROWS = {UP: "toward the upstream", DOWN: "toward the client"}
KINDS = ("text", "binary", "open", "close")


@dataclass
class BinaryMessage(Frame):
    """A binary frame sent upstream whose bytes are a JSON object: `data` stays the bytes that went over the wire
    (what cassettes and reports show), `type` and `message` (so role and ids) are the JSON's."""

    event: dict = field(default_factory=dict)

    @property
    def message(self) -> dict:
        return self.event

    def label(self) -> str:
        return f"{super().label()} [binary frame]"


_UNPARSED = object()


def as_message(frame: Frame) -> Frame:
    """The frame as the checks see it: a binary frame on leg B toward the upstream whose bytes are a JSON object
    becomes its BinaryMessage; any other frame is itself. Made once per recorded frame and kept on it, so every
    timeline of the test holds the same object (selections with `after=`, anchors and highlights compare by
    identity)."""
    if frame.kind != "binary" or frame.route != PROXY_TO_UPSTREAM or isinstance(frame, BinaryMessage):
        return frame
    view = frame.__dict__.get("_as_message", _UNPARSED)
    if view is _UNPARSED:
        parsed = _json_object(frame.data)
        view = None if parsed is None else BinaryMessage(
            **{f.name: getattr(frame, f.name) for f in fields(Frame)},   # note: the same dict, later notes too
            event=parsed)
        if view is not None:
            view.type = parsed.get("type") if isinstance(parsed.get("type"), str) else None
        frame.__dict__["_as_message"] = view    # not a dataclass field: never serialised with the frame
    return frame if view is None else view


def is_event(frame: Frame) -> bool:
    """Whether a frame is an event as READY-3 and WIRE-3 count them: a text frame (JSON or not), or a binary frame
    holding a JSON message (its framing is WIRE-2's). A binary frame of raw bytes is WIRE-2's alone."""
    return frame.kind == "text" or isinstance(frame, BinaryMessage)


def _json_object(data: Any) -> dict | None:
    try:
        value = json.loads(bytes(data).decode("utf-8"))
    except (TypeError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _check(value: str | None, known, what: str) -> None:
    if value is not None and value not in known:
        raise ValueError(f"unknown {what} {value!r} in a timeline query: use one of {', '.join(known)}")


@dataclass
class Timeline:
    frames: list[Frame]
    origin: float

    def __post_init__(self) -> None:
        self.frames = [as_message(f) for f in self.frames]

    def select(self, route: Route | None = None, type: str | Iterable[str] | None = None, role: str | None = None,
               item_id: str | None = None, kind: str | None = None, conn: int | None = None,
               after: Frame | float | None = None, leg: str | None = None, arrow: str | None = None
               ) -> list[Frame]:
        """The frames matching every criterion given, in time order. route (or leg and arrow alone) says where
        they went; after: later than this frame (or at or after this monotonic time)."""
        if route is not None:
            if leg is not None or arrow is not None:
                raise ValueError("a timeline query takes a route or a leg and an arrow, not both")
            leg, arrow = route.leg, route.arrow
        _check(leg, LEGS, "leg")
        _check(arrow, ARROWS, "arrow")
        _check(kind, KINDS, "kind")
        types = {type} if isinstance(type, str) else set(type) if type is not None else None
        since = after.t if isinstance(after, Frame) else after
        return [f for f in self.frames
                if (leg is None or f.leg == leg) and (arrow is None or f.arrow == arrow)
                and (types is None or f.type in types) and (kind is None or f.kind == kind)
                and (role is None or f.role == role) and (item_id is None or f.item_id == item_id)
                and (conn is None or f.conn == conn) and (since is None or f.t >= since) and f is not after]

    def first(self, **criteria) -> Frame | None:
        found = self.select(**criteria)
        return found[0] if found else None

    def offset(self, frame: Frame) -> float:
        return frame.t - self.origin

    def render(self, frames: list[Frame] | None = None, highlight: Iterable[Frame] = ()) -> str:
        """A readable slice: one line per frame, time offset, label; highlighted frames marked '>>'."""
        marked = {id(f) for f in highlight}
        lines = []
        for f in self.frames if frames is None else frames:
            extra = f"  ! {'; '.join(f.note['problems'])}" if f.note.get("problems") else ""
            lines.append(f"{'>>' if id(f) in marked else '  '} {self.offset(f):8.3f}s  {f.label()}{extra}")
        return "\n".join(lines)

    def around(self, *anchors: Frame | None, before: int = 4, after: int = 4) -> list[Frame]:
        """The frames from a few before the earliest anchor to a few after the latest."""
        indexes = [i for i, f in enumerate(self.frames) if any(f is a for a in anchors if a is not None)]
        if not indexes:
            return self.frames[-WHOLE_LIMIT:]  # nothing to point at: the whole story, within reason
        return self.frames[max(0, min(indexes) - before): max(indexes) + after + 1]


def appended_audio(frames: Iterable[Frame]) -> bytes:
    """The audio the proxy appended upstream: the decoded `audio` of its input_audio_buffer.append events, in
    order (an event whose audio is not base64 adds nothing; one sent as a binary frame counts: WIRE-2 fails the
    binary frame itself)."""
    chunks = []
    for frame in map(as_message, frames):
        event = frame.message
        if frame.route == PROXY_TO_UPSTREAM and frame.type == "input_audio_buffer.append" and event is not None:
            try:
                chunks.append(base64.b64decode(event.get("audio", ""), validate=True))
            except (ValueError, TypeError):
                continue
    return b"".join(chunks)
