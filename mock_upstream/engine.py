"""The mock upstream's behaviour as a pure state machine: no sockets, no clocks.

One Engine per upstream connection. Each input carries the current time `now`
(seconds, any monotonic origin) and returns actions stamped with the absolute
time at which the server adapter must carry them out. Server events keep their
order within a chain: the service's acknowledgements (session, items, errors)
form one chain, and each response streams in a chain of its own. So a delayed
confirmation holds back the acknowledgements after it, as a slow service does,
while a new item is still confirmed during a long response. A close is not
queued behind events: it happens at its own time and ends the connection. A cancelled response retracts
what of its chain was not yet due (Retract).

The session's turn detection (session_config) decides whether the service commits spoken turns itself and
answers them; how it hears speech in the appended audio (scripted, or by energy) is the scenario's.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from voice_harness.mock_upstream import session_config, vad
from voice_harness.mock_upstream.scenario import Reorder, Scenario, Turn
from voice_harness.mock_upstream.rejection import rejection
from voice_harness.wire.validation import client_event_problems

AUDIO_BYTES_PER_MS = 48  # PCM16 mono at 24 kHz
ACKS = "acks"            # the chain of the service's acknowledgements
TRANSCRIPT_DELTAS = 3    # conversation.item.input_audio_transcription.delta events per transcription


@dataclass(frozen=True)
class Send:
    at: float
    event: dict
    chain: str = ACKS


@dataclass(frozen=True)
class Retract:
    """Never send the events of this chain that are due after `at` (a response cancelled at `at`)."""

    at: float
    chain: str


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


CONFIRMATIONS = ("conversation.item.added", "conversation.item.done")


@dataclass
class _Response:
    id: str
    created_at: float    # response.created: the response is active from here
    done_at: float       # response.done: ... to here

    def active(self, now: float) -> bool:
        return self.created_at <= now < self.done_at


class Engine:
    def __init__(self, scenario: Scenario, connection: int = 1, track_delivery: bool = False):
        """track_delivery: the caller reports each event it puts on the wire (delivered()), and a user item
        counts as confirmed only once its confirmation went out, not merely when it was due. A server whose
        loop stalls between two back-to-back client frames then still judges the second one as sent."""
        self.scenario = scenario
        self._track_delivery = track_delivery
        self._undelivered: set[str] = set()    # user items whose queued confirmation has not gone out yet
        self._conn = connection
        self._counter = 0
        self._last_at: dict[str, float] = {}    # chain -> time of its latest event
        self._items: dict[str, dict] = {}
        self._order: list[str] = []
        self._confirmed_at: dict[str, float] = {}
        # The latest user item a response.create must wait for (typed, or committed by the service's VAD): None
        # after the client's own commit, which the client's response.create may follow at once.
        self._awaited_item: str | None = None
        self._latest_user_item: str | None = None
        self._response: _Response | None = None
        self._audio = bytearray()
        self._session: dict[str, Any] = session_config.initial()
        self._fired: set[str] = set()
        self._turns = 0
        self._speaking = False
        self._utterances = 0        # utterances the VAD heard (numbers their items)
        self._vad_at = 0            # bytes of self._audio the energy VAD has looked at
        self._quiet_ms = 0          # silence since the last window of speech
        self._speech_start_ms = 0
        # Events held back by reorder rules, with their roles and chains.
        self._held: list[tuple[Reorder, dict, str | None, str]] = []
        # Rule use, for the scenario's self-check at teardown: rule kind -> indexes into the scenario's tuple.
        self.used: dict[str, set[int]] = {"delays": set(), "drops": set(), "duplicates": set(),
                                          "reorders": set(), "closes": set(), "errors": set()}

    # ------------------------------------------------------------------ inputs

    def connect(self, now: float) -> Outcome:
        out = Outcome()
        self._send(out, now, {"type": "session.created", "session": self._session})
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
        """A binary frame is a problem (WIRE-2's). One whose bytes are a JSON object is answered as the event it
        holds, so that a proxy sending its events as bytes is judged on the rest of what it does (one defect, one
        id); any other bytes (audio sent raw) are refused with invalid_frame."""
        problem = "binary frame: the Realtime API takes JSON text events only"
        try:
            event = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            event = None
        if not isinstance(event, dict):
            out = Outcome(note={"problems": [problem]})
            self._error(out, now, "invalid_request_error", "invalid_frame", "Binary frames are not supported.")
            return out
        out = self.receive(now, event)
        out.note["problems"] = [problem, *out.note.get("problems", [])]
        return out

    def receive(self, now: float, event: Any) -> Outcome:
        problems = client_event_problems(event)
        out = Outcome(note={"problems": problems} if problems else {})
        if problems:
            # Rejected as a whole, as the service does: a session.update with an unknown field configures nothing.
            code, message, param = rejection(event, problems)
            self._error(out, now, "invalid_request_error", code, message, param=param,
                        event_id=event.get("event_id") if isinstance(event, dict) else None)
            return out
        handler = getattr(self, "_on_" + event["type"].replace(".", "_"), None)
        if handler is not None:
            handler(out, now, event)
        return out

    # ------------------------------------------------------------ client events

    def _on_session_update(self, out: Outcome, now: float, event: dict) -> None:
        first = "session_update" not in self._fired
        self._session = session_config.updated(self._session, event["session"])
        if session_config.turn_detection(self._session) is None:
            self._speaking, self._quiet_ms = False, 0   # the VAD stops listening mid-utterance too
        at = now + self._ms(self.scenario.confirm_latency_ms)
        self._send(out, at, {"type": "session.updated", "session": self._session})
        if first:
            self._fire(out, "session_update", now)

    def _on_conversation_item_create(self, out: Outcome, now: float, event: dict) -> None:
        item = dict(event["item"])
        item.setdefault("id", self._new_id("item"))
        item.setdefault("object", "realtime.item")
        item["status"] = "completed"
        role = item.get("role") or item.get("type")
        out.note.update({"item_id": item["id"], "role": role})
        self._confirm_item(out, now, item)
        if role == "user":
            self._user_item(out, now, item["id"])
        elif role == "function_call_output":
            self._fire(out, "function_call_output", now)

    def _confirm_item(self, out: Outcome, now: float, item: dict) -> None:
        """Add the item to the conversation and confirm it (added, then done) after the service's latency."""
        role = item.get("role") or item.get("type")
        previous = self._order[-1] if self._order else None
        self._items[item["id"]] = item
        self._order.append(item["id"])
        at = now + self._ms(self.scenario.confirm_latency_ms)
        added = self._send(out, at, {"type": "conversation.item.added", "previous_item_id": previous, "item": item}, role)
        done = self._send(out, at, {"type": "conversation.item.done", "previous_item_id": previous, "item": item}, role)
        # The service has the item from this moment on, even when the scenario loses the events.
        self._confirmed_at[item["id"]] = min(added, done)
        # Tracked only when both confirmations go out now: a dropped one leaves the due time as the only record
        # (see above), and a held-back (reordered) one goes out later, with some other event.
        emitted = {a.event["type"] for a in out.actions if isinstance(a, Send)
                   and a.event["type"] in CONFIRMATIONS and a.event["item"]["id"] == item["id"]}
        if self._track_delivery and role == "user" and len(emitted) == len(CONFIRMATIONS):
            self._undelivered.add(item["id"])

    def _user_item(self, out: Outcome, now: float, item_id: str, client_commit: bool = False) -> None:
        """A user item (typed or a committed utterance) is the latest one; the first fires first_user_item. Until
        it is confirmed a response.create is premature (the field behaviour), except after the client's own commit:
        commit then response.create back to back is the documented flow of client-side turn detection, and the
        item is in the conversation from the commit on."""
        first = self._latest_user_item is None
        self._latest_user_item = item_id
        self._awaited_item = None if client_commit else item_id
        if first:
            self._fire(out, "first_user_item", now)

    def delivered(self, event: dict) -> None:
        """The server put this event on the wire (with track_delivery)."""
        if event.get("type") in CONFIRMATIONS:
            self._undelivered.discard(event["item"].get("id"))

    def _on_response_create(self, out: Outcome, now: float, event: dict) -> None:
        if self._response is not None and self._response.active(now):
            out.note["rejected"] = "conversation_already_has_active_response"
            self._error(out, now, "invalid_request_error", "conversation_already_has_active_response",
                        f"Conversation already has an active response in progress: {self._response.id}.")
            return
        pending = self._awaited_item
        if pending is not None and (now < self._confirmed_at[pending] or pending in self._undelivered):
            # The field behaviour: the service neither replies nor says why.
            out.note.update({"premature": True, "unconfirmed_item": pending})
            self._fire(out, "premature_response_create", now)
            return
        if self.scenario.replies:
            out.note["response_id"] = self._respond(out, now, event.get("response"))

    def _on_response_cancel(self, out: Outcome, now: float, event: dict) -> None:
        self._cancel_response(out, now)

    def _cancel_response(self, out: Outcome, now: float) -> None:
        """End the active response now: what of it was not yet due is never sent, and a response.done with
        status cancelled goes out at once."""
        response = self._response
        if response is None or not response.active(now):
            return
        chain = f"response:{response.id}"
        out.actions.append(Retract(now, chain))
        response.done_at = now
        cancelled = f"cancel:{response.id}"
        self._send(out, now, {"type": "response.done", "response": {
            "id": response.id, "object": "realtime.response", "status": "cancelled", "output": []}}, chain=cancelled)
        out.note["cancelled_response"] = response.id

    def _on_input_audio_buffer_append(self, out: Outcome, now: float, event: dict) -> None:
        try:
            self._audio.extend(base64.b64decode(event["audio"], validate=True))
        except (binascii.Error, ValueError):
            self._error(out, now, "invalid_request_error", "invalid_value", "audio is not valid base64.")
            return
        if session_config.turn_detection(self._session) is None:
            self._vad_at = len(self._audio)   # turn detection off: nobody listens to this audio
        elif self.scenario.vad_utterance_ms:
            self._scripted_vad(out, now)
        else:
            self._energy_vad(out, now)

    def _vad_item(self) -> str:
        return f"item_vad{self._conn:03d}{self._utterances:03d}"

    def _speech_started(self, out: Outcome, now: float, audio_start_ms: int) -> None:
        """speech_started for a new utterance; with interrupt_response, the active response is cancelled."""
        self._speaking = True
        self._utterances += 1
        self._send(out, now, {"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms,
                              "item_id": self._vad_item()})
        if session_config.interrupts_response(self._session):
            self._cancel_response(out, now)

    def _energy_vad(self, out: Outcome, now: float) -> None:
        """Server VAD by energy over 20 ms windows of the appended audio."""
        size = AUDIO_BYTES_PER_MS * vad.WINDOW_MS
        while len(self._audio) - self._vad_at >= size:
            level = vad.rms(bytes(self._audio[self._vad_at:self._vad_at + size]))
            self._vad_at += size
            ms = self._vad_at // AUDIO_BYTES_PER_MS
            if level > self.scenario.vad_threshold:
                self._quiet_ms = 0
                if not self._speaking:
                    self._speech_start_ms = ms - vad.WINDOW_MS
                    self._speech_started(out, now, self._speech_start_ms)
            elif self._speaking:
                self._quiet_ms += vad.WINDOW_MS
                if self._quiet_ms >= self.scenario.vad_silence_ms:
                    self._utterance_ended(out, now, ms - self._quiet_ms)
                    return

    def _scripted_vad(self, out: Outcome, now: float) -> None:
        """Scripted server VAD: speech starts with the first audio and ends after vad_utterance_ms of it."""
        ms = len(self._audio) // AUDIO_BYTES_PER_MS
        if not self._speaking:
            self._speech_started(out, now, 0)
        if ms >= self.scenario.vad_utterance_ms:
            self._utterance_ended(out, now, ms)

    def _utterance_ended(self, out: Outcome, now: float, ms: int) -> None:
        """speech_stopped and the service's own commit; with create_response, its reply (unless a response is
        still active then: the service starts no second one)."""
        item_id = self._vad_item()
        self._send(out, now, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": item_id})
        self._commit(out, now, item_id, ms)
        if not session_config.creates_response(self._session):
            return
        at = self._last_at[ACKS]
        if self._response is not None and self._response.active(at):
            out.note["not_answered"] = f"{item_id}: response {self._response.id} still active"
            return
        self._respond(out, at)

    def _commit(self, out: Outcome, now: float, item_id: str, ms: float, client_commit: bool = False) -> None:
        """The buffer becomes a user item: committed, the item (added, done), its transcription (deltas, then
        completed). The buffer is empty afterwards, for the VAD too."""
        self._audio.clear()
        self._speaking, self._vad_at, self._quiet_ms = False, 0, 0
        previous = self._order[-1] if self._order else None
        self._send(out, now, {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        transcript = self.scenario.transcript
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
                "content": [{"type": "input_audio", "transcript": transcript}]}
        self._confirm_item(out, now, item)
        self._user_item(out, now, item_id, client_commit)
        for piece in _chunks(transcript, TRANSCRIPT_DELTAS):
            self._send(out, self._last_at[ACKS], {"type": "conversation.item.input_audio_transcription.delta",
                                                  "item_id": item_id, "content_index": 0, "delta": piece})
        self._send(out, self._last_at[ACKS], {"type": "conversation.item.input_audio_transcription.completed",
                                             "item_id": item_id, "content_index": 0, "transcript": transcript,
                                             "usage": {"type": "duration", "seconds": ms / 1000}})

    def _on_input_audio_buffer_commit(self, out: Outcome, now: float, event: dict) -> None:
        """The client's commit, VAD on or off: a user item, never a reply (the client asks with response.create).
        After the service's own commit the buffer is empty: the service's "buffer too small" error."""
        ms = len(self._audio) / AUDIO_BYTES_PER_MS
        if ms < 100:
            self._error(out, now, "invalid_request_error", "input_audio_buffer_commit_empty",
                        f"Error committing input audio buffer: buffer too small. Expected at least 100ms "
                        f"of audio, but buffer only has {ms:.2f}ms of audio.")
            return
        self._commit(out, now, self._new_id("item"), ms, client_commit=True)

    # ----------------------------------------------------------------- replies

    def _respond(self, out: Outcome, now: float, asked: dict | None = None) -> str:
        """Answer one response.create (its `response` object: asked) with the next turn of the script; the
        response id. response.created goes out at once; the first output follows after the scenario's reply
        latency. A function call the session and the response declare no function for is answered in words, as
        the service does."""
        turn = self.scenario.script[self._turns] if self._turns < len(self.scenario.script) else Turn()
        if turn.kind == "function_call" and not session_config.declares_function(self._session, asked):
            out.note["no_function_declared"] = turn.name
            turn = dataclasses.replace(turn, kind="text")
        self._turns += 1
        response_id, item_id = self._new_id("resp"), self._new_id("item")
        send = functools.partial(self._send, out, chain=f"response:{response_id}")
        previous = self._order[-1] if self._order else None
        self._order.append(item_id)
        response = {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": [],
                    "output_modalities": ["audio" if self._audio_chunks(turn) else "text"]}
        created_at = send(now, {"type": "response.created", "response": response})
        for kind in self.scenario.unknown_events:   # types the client has never seen (PROTOCOL.md section 3)
            send(created_at, {"type": kind, "response_id": response_id})
        at = created_at + self._ms(self.scenario.reply_latency_ms)
        if turn.kind == "function_call":
            final_item, at = self._function_call(send, at, response_id, item_id, previous, turn)
        else:
            final_item, at = self._message(send, at, response_id, item_id, previous, turn)
        # The response's role (for scenario rules) is its output item's: assistant, or function_call.
        done_at = send(at, {"type": "response.done", "response": dict(
            response, status="completed", output=[final_item])}, final_item.get("role") or final_item.get("type"))
        self._items[item_id] = final_item
        self._response = _Response(response_id, created_at, done_at)
        self._fire(out, "response_done", done_at)
        return response_id

    def _message(self, send: Callable[..., float], at: float, response_id: str, item_id: str, previous: str | None,
                 turn: Turn) -> tuple[dict, float]:
        """An assistant message item of reply_parts content parts: the text (an audio reply's transcript and its
        audio deltas) split across them, each part streamed in turn with its own content_index."""
        text = (turn.text if turn.text is not None else self.scenario.reply_text).replace(
            "{user_text}", self._text_of(self._latest_user_item))
        audio = self._audio_chunks(turn) > 0
        step = self._ms(self.scenario.delta_interval_ms)
        texts = _chunks(text, self.scenario.reply_parts)
        audio_chunks = _spread(list(range(self._audio_chunks(turn))), len(texts))
        empty_item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                      "status": "in_progress", "content": []}
        content = [{"type": "output_audio", "transcript": part} if audio else {"type": "output_text", "text": part}
                   for part in texts]
        final_item = dict(empty_item, status="completed", content=content)
        send(at, {"type": "response.output_item.added", "response_id": response_id,
                  "output_index": 0, "item": empty_item}, "assistant")
        send(at, {"type": "conversation.item.added", "previous_item_id": previous, "item": empty_item}, "assistant")
        text_event = "response.output_audio_transcript" if audio else "response.output_text"
        key = "transcript" if audio else "text"
        for index, (part_text, part_audio) in enumerate(zip(texts, audio_chunks)):
            base = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": index}
            send(at, {"type": "response.content_part.added", **base,
                      "part": {"type": "audio" if audio else "text", key: ""}})
            for chunk in _chunks(part_text, self.scenario.reply_chunks):
                at += step
                send(at, {"type": f"{text_event}.delta", **base, "delta": chunk})
            for chunk_index in part_audio:
                at += step
                send(at, {"type": "response.output_audio.delta", **base,
                          "delta": base64.b64encode(audio_chunk(chunk_index, self.scenario.audio_chunk_ms)).decode()})
            at += step
            if audio:
                send(at, {"type": "response.output_audio.done", **base})
            send(at, {"type": f"{text_event}.done", **base, key: part_text})
            send(at, {"type": "response.content_part.done", **base,
                      "part": {"type": "audio" if audio else "text", key: part_text}})
        send(at, {"type": "response.output_item.done", "response_id": response_id,
                  "output_index": 0, "item": final_item}, "assistant")
        send(at, {"type": "conversation.item.done", "previous_item_id": previous, "item": final_item}, "assistant")
        return final_item, at

    def _audio_chunks(self, turn: Turn) -> int:
        """How many audio deltas this reply has: its turn's own count, else the scenario's."""
        return turn.audio_chunks if turn.audio_chunks is not None else self.scenario.reply_audio_chunks

    def _function_call(self, send: Callable[..., float], at: float, response_id: str, item_id: str, previous: str | None,
                       turn: Turn) -> tuple[dict, float]:
        call_id = self._new_id("call")
        step = self._ms(self.scenario.delta_interval_ms)
        item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                "call_id": call_id, "name": turn.name, "arguments": ""}
        final_item = dict(item, status="completed", arguments=turn.arguments)
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id}
        send(at, {"type": "response.output_item.added", "response_id": response_id,
                             "output_index": 0, "item": item}, "function_call")
        send(at, {"type": "conversation.item.added", "previous_item_id": previous, "item": item},
                   "function_call")
        for chunk in _chunks(turn.arguments, 2):
            at += step
            send(at, {"type": "response.function_call_arguments.delta", **base, "delta": chunk})
        at += step
        send(at, {"type": "response.function_call_arguments.done", **base,
                             "name": turn.name, "arguments": turn.arguments})
        send(at, {"type": "response.output_item.done", "response_id": response_id,
                             "output_index": 0, "item": final_item}, "function_call")
        send(at, {"type": "conversation.item.done", "previous_item_id": previous, "item": final_item},
                   "function_call")
        return final_item, at

    def _text_of(self, item_id: str | None) -> str:
        item = self._items.get(item_id or "", {})
        return " ".join(part.get("text", "") for part in item.get("content", []) if part.get("text"))

    # --------------------------------------------------------------- machinery

    def _send(self, out: Outcome, at: float, event: dict, role: str | None = None, chain: str = ACKS) -> float:
        """Queue one server event through the scenario's rules; the time the service produced it."""
        kind = event["type"]
        for index, rule in enumerate(self.scenario.delays):
            if rule.event == kind and rule.role in (None, role):
                self.used["delays"].add(index)
                at += self._ms(rule.ms)
        at = max(at, self._last_at.get(chain, 0.0))
        for index, rule in enumerate(self.scenario.drops):
            if rule.event == kind and rule.role in (None, role):
                self.used["drops"].add(index)
                return at
        for index, rule in enumerate(self.scenario.reorders):
            if rule.event == kind and rule.role in (None, role) and index not in self.used["reorders"]:
                self.used["reorders"].add(index)
                self._held.append((rule, event, role, chain))
                return at
        copies = 1
        for index, rule in enumerate(self.scenario.duplicates):
            if rule.event == kind and rule.role in (None, role):
                self.used["duplicates"].add(index)
                copies = 2
        self._last_at[chain] = at
        self._emit(out, at, event, chain, copies)
        for hold in [h for h in self._held if h[0].after == kind and h[0].after_role in (None, role)]:
            self._held.remove(hold)
            self._emit(out, at, hold[1], hold[3])
        return at

    def _emit(self, out: Outcome, at: float, event: dict, chain: str, copies: int = 1) -> None:
        """Put the event on the wire at `at`; a response.done is followed by rate_limits.updated, as the service
        does after every response (when the response.done goes out, even held back by a reorder rule)."""
        for _ in range(copies):
            out.actions.append(Send(at, {"event_id": self._new_id("event"), **event}, chain))
        if event["type"] == "response.done":
            out.actions.append(Send(at, {"event_id": self._new_id("event"), **rate_limits_updated()}, chain))

    def _error(self, out: Outcome, now: float, type_: str, code: str, message: str,
               event_id: str | None = None, param: str | None = None) -> None:
        self._send(out, now, {"type": "error", "error": {
            "type": type_, "code": code, "message": message, "param": param, "event_id": event_id}})

    def _fire(self, out: Outcome, trigger: str, now: float) -> None:
        self._fired.add(trigger)
        for index, rule in enumerate(self.scenario.errors):
            if rule.trigger == trigger and index not in self.used["errors"]:
                self.used["errors"].add(index)
                self._error(out, now + self._ms(rule.after_ms), rule.type, rule.code, rule.message)
        for index, rule in enumerate(self.scenario.closes):
            if rule.trigger == trigger and index not in self.used["closes"]:
                self.used["closes"].add(index)
                out.actions.append(CloseSocket(now + self._ms(rule.after_ms), rule.code, rule.reason))

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_mock{self._conn:03d}{self._counter:05d}"

    @staticmethod
    def _ms(value: float) -> float:
        return value / 1000.0


def _chunks(text: str, count: int) -> list[str]:
    """text in count non-empty pieces (fewer when it is shorter; one empty piece when it is empty)."""
    return _spread(text, max(1, min(count, len(text))))


def _spread(values, count: int) -> list:
    """A sequence in count contiguous runs, as even as can be (some empty when there are fewer values)."""
    return [values[len(values) * i // count:len(values) * (i + 1) // count] for i in range(count)]


def rate_limits_updated() -> dict:
    """The rate_limits.updated the service sends after a response (the figures are the mock's)."""
    return {"type": "rate_limits.updated", "rate_limits": [
        {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
        {"name": "tokens", "limit": 400000, "remaining": 399000, "reset_seconds": 0.15}]}


def audio_chunk(index: int, ms: int) -> bytes:
    """Recognisable PCM16 bytes for one reply audio chunk (distinct per chunk, never valid JSON)."""
    return bytes((index * 31 + i * 7 + 1) % 256 for i in range(ms * AUDIO_BYTES_PER_MS))


def unused_rules(scenario: Scenario, engines: list[Engine]) -> list[str]:
    """Rules of the scenario that no connection ever applied: a test that exercised nothing."""
    used = {kind: set().union(*(e.used[kind] for e in engines)) for kind in Engine(scenario).used}
    problems = []
    for kind, rules in (("delays", scenario.delays), ("drops", scenario.drops), ("duplicates", scenario.duplicates),
                        ("reorders", scenario.reorders), ("closes", scenario.closes), ("errors", scenario.errors)):
        for index, rule in enumerate(rules):
            if index not in used[kind] and getattr(rule, "expected", True):
                problems.append(f"{kind[:-1]} {_describe(rule)} never applied")
    return problems


def _describe(rule) -> str:
    fields = {k: v for k, v in vars(rule).items() if v not in (None, "", True)}
    return " ".join(f"{k}={v}" for k, v in fields.items())
