"""Frame records of both legs on one clock (time.monotonic, shared by every process here).

Leg A is browser <-> proxy, leg B is proxy <-> upstream. "->" points toward the
upstream (browser to proxy, proxy to upstream), "<-" away from it. A close is a
frame too: its arrow says which side closed first.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from voice_harness.wire.redaction import redact, redact_parsed

UP, DOWN = "->", "<-"
CLIENT_LEG, UPSTREAM_LEG = "A", "B"   # browser <-> proxy (the client tap), proxy <-> upstream
PREVIEW_CHARS = 256   # of a text frame that is not JSON, the frame keeps this much of the text (memory stays bounded)


@dataclass(frozen=True)
class Route:
    """Where frames went: a leg and a direction (compare `frame.route` with the constants below, never raw
    strings: a typo in a constant's name is an error, one in a string an empty match)."""

    leg: str
    arrow: str


CLIENT_TO_PROXY = Route(CLIENT_LEG, UP)        # what the app (or a wire client) sent the proxy
PROXY_TO_CLIENT = Route(CLIENT_LEG, DOWN)      # what the proxy sent the app
PROXY_TO_UPSTREAM = Route(UPSTREAM_LEG, UP)    # what the proxy sent the upstream
UPSTREAM_TO_PROXY = Route(UPSTREAM_LEG, DOWN)  # what the upstream sent the proxy


@dataclass
class Frame:
    t: float
    leg: str
    arrow: str
    kind: str                 # text | binary | open | close
    type: str | None = None   # parsed event type, or None
    conn: int = 0             # connection number within its leg
    size: int = 0
    data: Any = None          # parsed JSON of a text frame; the bytes of a binary one; {code, reason} of a close
                              # (checks read a JSON message through `message`, which also sees JSON in bytes)
    note: dict = field(default_factory=dict)
    preview: str | None = None  # the first PREVIEW_CHARS characters of a text frame that is not JSON

    def label(self) -> str:
        """How a timeline names this frame, e.g. 'B<- conversation.item.added(user)'."""
        what = self.type or self.kind
        if self.kind == "close":
            what = f"close {self.data.get('code')} {self.data.get('reason') or ''}".rstrip()
        role = self.role
        return f"{self.leg}{self.arrow} {what}" + (f"({role})" if role else "")

    @property
    def message(self) -> dict | None:
        """The JSON object this frame carried, what every check reads a message's fields from: a text frame's
        parsed object; None for anything else (a close's code and reason, and a binary frame's bytes, stay in
        `data`). A frame with a `type` always has its message. On a judging timeline, a binary frame sent upstream
        whose bytes are a JSON object has that object (judging.timeline.BinaryMessage)."""
        return self.data if self.kind == "text" and isinstance(self.data, dict) else None

    @property
    def route(self) -> Route:
        """Where this frame went, to compare with CLIENT_TO_PROXY, PROXY_TO_UPSTREAM, ... (not a field: never
        serialised, so recordings and cassettes keep their leg and arrow)."""
        return Route(self.leg, self.arrow)

    @property
    def role(self) -> str | None:
        event = self.message
        if event is not None:
            item = event.get("item")
            if isinstance(item, dict):
                return item.get("role") or item.get("type")
            if self.type == "ConversationText":
                return event.get("role")
        return self.note.get("role")

    @property
    def item_id(self) -> str | None:
        event = self.message
        if event is not None and isinstance(event.get("item"), dict):
            return event["item"].get("id") or self.note.get("item_id")
        return self.note.get("item_id")

    @property
    def call_id(self) -> str | None:
        event = self.message
        if event is None:
            return None
        item = event.get("item")
        if isinstance(item, dict) and item.get("call_id"):
            return item["call_id"]
        return event.get("call_id") or (event.get("id") if self.type == "FunctionCallResponse" else None)

    @property
    def response_id(self) -> str | None:
        event = self.message
        if event is None:
            return self.note.get("response_id")
        response = event.get("response")
        if isinstance(response, dict):
            return response.get("id")
        return event.get("response_id") or self.note.get("response_id")

    def to_json(self) -> dict:
        record = asdict(self)
        if isinstance(self.data, bytes):
            record["data"] = {"base64": base64.b64encode(self.data).decode()}
        if self.preview is None:
            del record["preview"]
        return record


def parse_text(text: str) -> tuple[Any, str | None]:
    """The parsed JSON of a text frame and its `type`, or (None, None) when it is not JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, None
    kind = data.get("type") if isinstance(data, dict) else None
    return data, kind if isinstance(kind, str) else None


class Recorder:
    """A thread-safe, append-only list of frames that tests can wait on."""

    def __init__(self) -> None:
        self._frames: list[Frame] = []
        self._changed = threading.Condition()
        self._opened_at: dict[tuple[str, int], int] = {}   # (leg, conn) -> index of its first frame

    def record(self, frame: Frame) -> Frame:
        with self._changed:
            self._opened_at.setdefault((frame.leg, frame.conn), len(self._frames))
            self._frames.append(frame)
            self._changed.notify_all()
        return frame

    def opened_since(self, mark: int) -> set[tuple[str, int]]:
        """The (leg, conn) of connections whose first frame came at or after mark: not an earlier test's."""
        with self._changed:
            return {key for key, index in self._opened_at.items() if index >= mark}

    def annotate(self, frame: Frame, note: dict) -> None:
        """Add what the receiver made of a recorded frame (waiters see it at once)."""
        if note:
            with self._changed:
                frame.note.update(note)
                self._changed.notify_all()

    def text(self, leg: str, arrow: str, conn: int, text: str, note: dict | None = None) -> Frame:
        # Parsed before redaction, which then goes into the strings: a short key must not make JSON invalid.
        data, kind = parse_text(text)
        preview = redact(text[:PREVIEW_CHARS * 4])[:PREVIEW_CHARS] if data is None else None
        return self.record(Frame(time.monotonic(), leg, arrow, "text", kind, conn, len(text.encode()),
                                 redact_parsed(data, text), dict(note or {}), preview))

    def binary(self, leg: str, arrow: str, conn: int, data: bytes) -> Frame:
        return self.record(Frame(time.monotonic(), leg, arrow, "binary", None, conn, len(data), bytes(data)))

    def close(self, leg: str, arrow: str, conn: int, code: int | None, reason: str) -> Frame:
        return self.record(Frame(time.monotonic(), leg, arrow, "close", None, conn, 0,
                                 {"code": code, "reason": redact(reason)}))

    def mark(self) -> int:
        """A position to read from later: frames recorded after this call."""
        with self._changed:
            return len(self._frames)

    def since(self, mark: int = 0) -> list[Frame]:
        with self._changed:
            return list(self._frames[mark:])

    def wait_for(self, predicate: Callable[[list[Frame]], Any], timeout: float, mark: int = 0,
                 poll: float | None = None) -> Any:
        """Wait until predicate(frames since mark) is truthy; its value, or None on timeout. The predicate is
        asked again on every new frame, and also every `poll` seconds when it depends on time passing."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self._frames[mark:])
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining if poll is None else min(remaining, poll))
