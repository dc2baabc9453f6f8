"""One test's frames of both legs on one clock, with typed selection: by route (leg and direction), type,
role, item id, kind, connection and time. An unknown leg, arrow or kind is an error, never an empty match
(a typo must not make `assert_never` pass)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Iterable

from voice_harness.wire.recording import Frame

WHOLE_LIMIT = 80
LEGS = {"A": "between the client and the proxy (the client tap)", "B": "between the proxy and the upstream"}
ARROWS = {"->": "toward the upstream", "<-": "toward the client"}
KINDS = ("text", "binary", "open", "close")


@dataclass(frozen=True)
class Route:
    """Where frames went: a leg and a direction."""

    leg: str
    arrow: str


CLIENT_TO_PROXY = Route("A", "->")      # what the app (or a wire client) sent the proxy
PROXY_TO_CLIENT = Route("A", "<-")      # what the proxy sent the app
PROXY_TO_UPSTREAM = Route("B", "->")    # what the proxy sent the upstream
UPSTREAM_TO_PROXY = Route("B", "<-")    # what the upstream sent the proxy


def _check(value: str | None, known, what: str) -> None:
    if value is not None and value not in known:
        raise ValueError(f"unknown {what} {value!r} in a timeline query: use one of {', '.join(known)}")


@dataclass
class Timeline:
    frames: list[Frame]
    origin: float

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
    order (an event whose audio is not base64 adds nothing)."""
    chunks = []
    for frame in frames:
        if (frame.leg == PROXY_TO_UPSTREAM.leg and frame.arrow == PROXY_TO_UPSTREAM.arrow
                and frame.type == "input_audio_buffer.append" and isinstance(frame.data, dict)):
            try:
                chunks.append(base64.b64decode(frame.data.get("audio", ""), validate=True))
            except (ValueError, TypeError):
                continue
    return b"".join(chunks)
