"""The mock upstream's behaviour as a pure state machine: no sockets, no clocks.

One Engine per upstream connection. Each input carries the current time `now`
(seconds, any monotonic origin) and returns actions stamped with the absolute
time at which the server adapter must carry them out. Server events keep their
order: an event is never sent before one emitted earlier (a delayed confirmation
holds back what follows it, as a slow service does). A close is not queued
behind events: it happens at its own time and ends the connection.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from .scenario import Close, Scenario
from .validation import client_event_problems

AUDIO_BYTES_PER_MS = 48  # PCM16 mono at 24 kHz
NEVER = float("inf")


@dataclass(frozen=True)
class Send:
    at: float
    event: dict


@dataclass(frozen=True)
class CloseSocket:
    at: float
    code: int
    reason: str


@dataclass
class Outcome:
    """What the engine made of one input: actions, and notes for the frame record."""

    actions: list = field(default_factory=list)
    note: dict = field(default_factory=dict)


@dataclass
class _Response:
    id: str
    done_at: float


class Engine:
    def __init__(self, scenario: Scenario, connection: int = 1):
        self.scenario = scenario
        self._conn = connection
        self._counter = 0
        self._last_send_at = 0.0
        self._items: dict[str, dict] = {}
        self._order: list[str] = []
        self._confirmed_at: dict[str, float] = {}
        self._latest_user_item: str | None = None
        self._response: _Response | None = None
        self._audio = bytearray()
        # Only fields the SDK's session model declares, so that every server event validates.
        self._session: dict[str, Any] = {"type": "realtime", "model": "gpt-realtime", "output_modalities": ["text"]}
        self._fired: set[str] = set()
        # Rule use, for the scenario's self-check at teardown (indexes into the scenario's tuples).
        self.used_delays: set[int] = set()
        self.used_drops: set[int] = set()
        self.fired_closes: set[int] = set()

    # ------------------------------------------------------------------ inputs

    def connect(self, now: float) -> Outcome:
        out = Outcome()
        self._send(out, now, {"type": "session.created", "session": dict(self._session)})
        self._fire(out, "connect", now)
        return out

    def receive_text(self, now: float, text: str) -> Outcome:
        try:
            event = json.loads(text)
        except ValueError:
            out = Outcome(note={"problems": ["not JSON"]})
            self._error(out, now, "invalid_request_error", "invalid_json", "The frame is not valid JSON.")
            return out
        return self.receive(now, event)

    def receive_binary(self, now: float, data: bytes) -> Outcome:
        out = Outcome(note={"problems": ["binary frame: the Realtime API takes JSON text events only"]})
        self._error(out, now, "invalid_request_error", "invalid_frame", "Binary frames are not supported.")
        return out

    def receive(self, now: float, event: Any) -> Outcome:
        problems = client_event_problems(event)
        out = Outcome(note={"problems": problems} if problems else {})
        if problems:
            self._error(out, now, "invalid_request_error", "invalid_event", "; ".join(problems),
                        event_id=event.get("event_id") if isinstance(event, dict) else None)
            return out
        handler = getattr(self, "_on_" + event["type"].replace(".", "_"), None)
        if handler is not None:
            handler(out, now, event)
        return out

    # ------------------------------------------------------------ client events

    def _on_session_update(self, out: Outcome, now: float, event: dict) -> None:
        first = "session_update" not in self._fired
        self._session.update(event["session"])
        at = now + self._ms(self.scenario.confirm_latency_ms)
        self._send(out, at, {"type": "session.updated", "session": dict(self._session)})
        if first:
            self._fire(out, "session_update", now)

    def _on_conversation_item_create(self, out: Outcome, now: float, event: dict) -> None:
        item = dict(event["item"])
        item.setdefault("id", self._new_id("item"))
        item.setdefault("object", "realtime.item")
        item["status"] = "completed"
        role = item.get("role")
        previous = self._order[-1] if self._order else None
        self._items[item["id"]] = item
        self._order.append(item["id"])
        out.note.update({"item_id": item["id"], "role": role or item.get("type")})
        at = now + self._ms(self.scenario.confirm_latency_ms)
        added = self._send(out, at, {"type": "conversation.item.added", "previous_item_id": previous, "item": item}, role)
        done = self._send(out, at, {"type": "conversation.item.done", "previous_item_id": previous, "item": item}, role)
        self._confirmed_at[item["id"]] = min(t for t in (added, done, NEVER) if t is not None)
        if role == "user":
            first = self._latest_user_item is None
            self._latest_user_item = item["id"]
            if first:
                self._fire(out, "first_user_item", now)

    def _on_response_create(self, out: Outcome, now: float, event: dict) -> None:
        if self._response is not None and now < self._response.done_at:
            out.note["rejected"] = "conversation_already_has_active_response"
            self._error(out, now, "invalid_request_error", "conversation_already_has_active_response",
                        f"Conversation already has an active response in progress: {self._response.id}.")
            return
        pending = self._latest_user_item
        if pending is not None and now < self._confirmed_at[pending]:
            # The field behaviour: the service neither replies nor says why.
            out.note.update({"premature": True, "unconfirmed_item": pending})
            self._fire(out, "premature_response_create", now)
            return
        if self.scenario.replies:
            self._reply(out, now)

    def _on_response_cancel(self, out: Outcome, now: float, event: dict) -> None:
        if self._response is not None and now < self._response.done_at:
            self._response.done_at = now
            self._send(out, now, {"type": "response.done", "response": {
                "id": self._response.id, "object": "realtime.response", "status": "cancelled", "output": []}})

    def _on_input_audio_buffer_append(self, out: Outcome, now: float, event: dict) -> None:
        try:
            self._audio.extend(base64.b64decode(event["audio"], validate=True))
        except (binascii.Error, ValueError):
            self._error(out, now, "invalid_request_error", "invalid_value", "audio is not valid base64.")

    def _on_input_audio_buffer_commit(self, out: Outcome, now: float, event: dict) -> None:
        ms = len(self._audio) / AUDIO_BYTES_PER_MS
        if ms < 100:
            self._error(out, now, "invalid_request_error", "input_audio_buffer_commit_empty",
                        f"Error committing input audio buffer: buffer too small. Expected at least 100ms "
                        f"of audio, but buffer only has {ms:.2f}ms of audio.")
            return
        self._audio.clear()
        item_id = self._new_id("item")
        self._send(out, now, {"type": "input_audio_buffer.committed", "item_id": item_id,
                              "previous_item_id": self._order[-1] if self._order else None})

    # ----------------------------------------------------------------- replies

    def _reply(self, out: Outcome, now: float) -> None:
        user_text = self._text_of(self._latest_user_item)
        text = self.scenario.reply_text.replace("{user_text}", user_text)
        response_id, item_id = self._new_id("resp"), self._new_id("item")
        previous = self._order[-1] if self._order else None
        self._order.append(item_id)
        step = self._ms(self.scenario.delta_interval_ms)
        at = now + self._ms(self.scenario.reply_latency_ms)
        response = {"id": response_id, "object": "realtime.response", "status": "in_progress",
                    "output": [], "output_modalities": ["text"]}
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        empty_item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                      "status": "in_progress", "content": []}
        final_item = dict(empty_item, status="completed", content=[{"type": "output_text", "text": text}])
        self._send(out, at, {"type": "response.created", "response": response})
        self._send(out, at, {"type": "response.output_item.added", "response_id": response_id,
                             "output_index": 0, "item": empty_item}, "assistant")
        self._send(out, at, {"type": "conversation.item.added", "previous_item_id": previous,
                             "item": empty_item}, "assistant")
        self._send(out, at, {"type": "response.content_part.added", **base, "part": {"type": "text", "text": ""}})
        for chunk in _chunks(text, self.scenario.reply_chunks):
            at += step
            self._send(out, at, {"type": "response.output_text.delta", **base, "delta": chunk})
        at += step
        self._send(out, at, {"type": "response.output_text.done", **base, "text": text})
        self._send(out, at, {"type": "response.content_part.done", **base, "part": {"type": "text", "text": text}})
        self._send(out, at, {"type": "response.output_item.done", "response_id": response_id,
                             "output_index": 0, "item": final_item}, "assistant")
        self._send(out, at, {"type": "conversation.item.done", "previous_item_id": previous,
                             "item": final_item}, "assistant")
        done_at = self._send(out, at, {"type": "response.done", "response": dict(
            response, status="completed", output=[final_item])})
        self._items[item_id] = final_item
        self._response = _Response(response_id, done_at if done_at is not None else at)
        self._fire(out, "response_done", self._response.done_at)

    def _text_of(self, item_id: str | None) -> str:
        item = self._items.get(item_id or "", {})
        return " ".join(part.get("text", "") for part in item.get("content", []) if part.get("text"))

    # --------------------------------------------------------------- machinery

    def _send(self, out: Outcome, at: float, event: dict, role: str | None = None) -> float | None:
        """Queue one server event through the scenario's drop and delay rules; its send time, or None."""
        kind = event["type"]
        for index, rule in enumerate(self.scenario.drops):
            if rule.event == kind and rule.role in (None, role):
                self.used_drops.add(index)
                return None
        for index, rule in enumerate(self.scenario.delays):
            if rule.event == kind and rule.role in (None, role):
                self.used_delays.add(index)
                at += self._ms(rule.ms)
        at = max(at, self._last_send_at)
        self._last_send_at = at
        event = {"event_id": self._new_id("event"), **event}
        out.actions.append(Send(at, event))
        return at

    def _error(self, out: Outcome, now: float, type_: str, code: str, message: str,
               event_id: str | None = None) -> None:
        self._send(out, now, {"type": "error", "error": {
            "type": type_, "code": code, "message": message, "param": None, "event_id": event_id}})

    def _fire(self, out: Outcome, trigger: str, now: float) -> None:
        self._fired.add(trigger)
        for index, rule in enumerate(self.scenario.closes):
            if rule.trigger == trigger and index not in self.fired_closes:
                self.fired_closes.add(index)
                out.actions.append(CloseSocket(now + self._ms(rule.after_ms), rule.code, rule.reason))

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_mock{self._conn:03d}{self._counter:05d}"

    @staticmethod
    def _ms(value: float) -> float:
        return value / 1000.0


def _chunks(text: str, count: int) -> list[str]:
    count = max(1, min(count, len(text) or 1))
    size = -(-len(text) // count)
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def unused_rules(scenario: Scenario, engines: list[Engine]) -> list[str]:
    """Rules of the scenario that no connection ever applied: a test that exercised nothing."""
    used_delays = set().union(*(e.used_delays for e in engines)) if engines else set()
    used_drops = set().union(*(e.used_drops for e in engines)) if engines else set()
    fired = set().union(*(e.fired_closes for e in engines)) if engines else set()
    problems = [f"delay {r.event}{_role(r.role)} by {r.ms} ms never applied"
                for i, r in enumerate(scenario.delays) if i not in used_delays]
    problems += [f"drop {r.event}{_role(r.role)} never applied"
                 for i, r in enumerate(scenario.drops) if i not in used_drops]
    problems += [f"close at {r.trigger} never fired"
                 for i, r in enumerate(scenario.closes) if r.expected and i not in fired]
    return problems


def _role(role: str | None) -> str:
    return f"({role})" if role else ""
