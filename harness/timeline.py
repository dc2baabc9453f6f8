"""One test's frames of both legs on one clock, with selection by leg, direction, type, role and item id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from mock_upstream.recording import Frame

WHOLE_LIMIT = 80


@dataclass
class Timeline:
    frames: list[Frame]
    origin: float

    def select(self, leg: str | None = None, arrow: str | None = None, type: str | Iterable[str] | None = None,
               role: str | None = None, item_id: str | None = None, kind: str | None = None,
               after: Frame | float | None = None) -> list[Frame]:
        types = {type} if isinstance(type, str) else set(type) if type is not None else None
        since = after.t if isinstance(after, Frame) else after
        return [f for f in self.frames
                if (leg is None or f.leg == leg) and (arrow is None or f.arrow == arrow)
                and (types is None or f.type in types) and (kind is None or f.kind == kind)
                and (role is None or f.role == role) and (item_id is None or f.item_id == item_id)
                and (since is None or f.t >= since) and f is not after]

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
