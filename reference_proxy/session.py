"""One proxied conversation as a pure state machine: component protocol <-> OpenAI Realtime.

No sockets here. The server feeds in what arrives from either side and carries
out the returned actions in order. Defects (defects.py) are subclasses that
override one decision each.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable

# Close codes that cannot be sent in a close frame; mirrored as "internal error".
UNSENDABLE_CLOSE_CODES = {1005, 1006, 1015}
RECOVERABLE_CODES = {"idle_timeout", "session_max_duration"}


@dataclass(frozen=True)
class ToUpstream:
    event: dict


@dataclass(frozen=True)
class ToClient:
    message: dict


@dataclass(frozen=True)
class ToClientAudio:
    data: bytes


@dataclass(frozen=True)
class CloseClient:
    code: int
    reason: str


@dataclass(frozen=True)
class CloseUpstream:
    code: int
    reason: str


@dataclass(frozen=True)
class Log:
    text: str


Action = ToUpstream | ToClient | ToClientAudio | CloseClient | CloseUpstream | Log


def new_item_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def error(code: str, description: str) -> ToClient:
    return ToClient({"type": "Error", "code": code, "description": description})


class Session:
    """The reference behaviour. Each on_* method returns the actions to carry out, in order."""

    def __init__(self, new_id: Callable[[], str] = new_item_id):
        self._new_id = new_id
        self.session_update_sent = False
        self.ready = False                      # upstream sent session.updated
        self._unacked_settings = 0              # Settings waiting for their SettingsApplied
        self._greeting: str | None = None
        self._before_ready: list[tuple[str, Any]] = []
        self._awaiting_confirmation: set[str] = set()
        self._response_active = False
        self._responses_wanted = 0
        self._shown_items: set[str] = set()
        self.closed = False

    # ----------------------------------------------------------- client side

    def on_client_text(self, text: str) -> list[Action]:
        try:
            message = json.loads(text)
        except ValueError:
            return [error("malformed_frame", "frame is not JSON"), Log("client sent a frame that is not JSON")]
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return [error("malformed_frame", "frame is not a JSON object with a string type")]
        handler = getattr(self, "_client_" + message["type"], None)
        if handler is None:
            return [error("disallowed_client_message_type", f"unknown message type {message['type']!r}"),
                    Log(f"client sent unknown type {message['type']!r}")]
        return handler(message)

    def on_client_binary(self, data: bytes) -> list[Action]:
        if not self.ready:
            self._before_ready.append(("audio", data))
            return []
        return self._append_audio(data)

    def on_client_closed(self) -> list[Action]:
        self.closed = True
        return [CloseUpstream(1000, "client closed")]

    def _client_Settings(self, message: dict) -> list[Action]:
        self._unacked_settings += 1
        if self.session_update_sent:
            # A repeated Settings: the session is configured once; acknowledge without a second update.
            return self._ack_settings() if self.ready else []
        self.session_update_sent = True
        agent = message.get("agent") or {}
        greeting = agent.get("greeting")
        self._greeting = greeting if isinstance(greeting, str) and greeting else None
        return [ToUpstream({"type": "session.update", "session": session_config(message)})]

    def _client_InjectUserMessage(self, message: dict) -> list[Action]:
        content = message.get("content")
        if not isinstance(content, str):
            return [error("invalid_message", "InjectUserMessage needs a string content")]
        if not self.ready:
            self._before_ready.append(("text", content))
            return []
        return self._inject(content)

    def _client_KeepAlive(self, message: dict) -> list[Action]:
        return []

    # --------------------------------------------------------- upstream side

    def on_upstream_text(self, text: str) -> list[Action]:
        try:
            event = json.loads(text)
        except ValueError:
            return [Log("upstream sent a frame that is not JSON")]
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return [Log("upstream sent an event without a type")]
        handler = getattr(self, "_upstream_" + event["type"].replace(".", "_"), None)
        return handler(event) if handler else []

    def on_upstream_closed(self, code: int | None, reason: str) -> list[Action]:
        self.closed = True
        sendable = code if code and code not in UNSENDABLE_CLOSE_CODES else 1011
        return [Log(f"upstream closed {code} {reason!r}"), CloseClient(sendable, f"upstream closed ({code})")]

    def on_upstream_unreachable(self, description: str) -> list[Action]:
        self.closed = True
        return [error("upstream_unreachable", description), CloseClient(1011, "upstream unreachable")]

    def _upstream_session_updated(self, event: dict) -> list[Action]:
        if self.ready:
            return []
        self.ready = True
        actions = self._ack_settings()
        if self._greeting:
            actions.append(ToClient({"type": "ConversationText", "role": "assistant", "content": self._greeting}))
        for kind, payload in self._before_ready:
            actions += self._inject(payload) if kind == "text" else self._append_audio(payload)
        self._before_ready.clear()
        return actions

    def _upstream_conversation_item_added(self, event: dict) -> list[Action]:
        return self._on_item_confirmed(event.get("item") or {})

    def _upstream_conversation_item_done(self, event: dict) -> list[Action]:
        item = event.get("item") or {}
        return self._on_item_confirmed(item) + self._show_assistant_item(item)

    def _upstream_response_done(self, event: dict) -> list[Action]:
        actions: list[Action] = []
        for item in (event.get("response") or {}).get("output") or []:
            actions += self._show_assistant_item(item)
        self._response_active = False
        if self._responses_wanted:
            self._responses_wanted -= 1
            actions += self._create_response()
        return actions

    def _upstream_response_output_audio_delta(self, event: dict) -> list[Action]:
        try:
            return [ToClientAudio(base64.b64decode(event.get("delta") or ""))]
        except ValueError:
            return [Log("upstream sent audio that is not base64")]

    def _upstream_error(self, event: dict) -> list[Action]:
        detail = event.get("error") or {}
        code = detail.get("code") or detail.get("type") or "upstream_error"
        return [ToClient({"type": "Error", "code": code, "description": detail.get("message") or code})]

    # -------------------------------------------------------------- decisions

    def _ack_settings(self) -> list[Action]:
        count, self._unacked_settings = self._unacked_settings, 0
        return [ToClient({"type": "SettingsApplied"}) for _ in range(count)]

    def _inject(self, text: str) -> list[Action]:
        item_id = self._new_id()
        self._awaiting_confirmation.add(item_id)
        return [
            ToUpstream({"type": "conversation.item.create", "item": {
                "id": item_id, "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]}}),
            ToClient({"type": "ConversationText", "role": "user", "content": text}),
        ]

    def _on_item_confirmed(self, item: dict) -> list[Action]:
        item_id = item.get("id")
        if item_id not in self._awaiting_confirmation:
            return []
        self._awaiting_confirmation.discard(item_id)
        return self._request_response()

    def _request_response(self) -> list[Action]:
        if self._response_active:
            self._responses_wanted += 1
            return []
        return self._create_response()

    def _create_response(self) -> list[Action]:
        self._response_active = True
        return [ToUpstream({"type": "response.create"})]

    def _show_assistant_item(self, item: dict) -> list[Action]:
        if item.get("role") != "assistant" or item.get("id") in self._shown_items:
            return []
        text = item_text(item)
        if not text:
            return []
        self._shown_items.add(item.get("id"))
        return [ToClient({"type": "ConversationText", "role": "assistant", "content": text})]

    def _append_audio(self, data: bytes) -> list[Action]:
        return [ToUpstream({"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()})]


def session_config(settings: dict) -> dict:
    """The Realtime session for a component Settings message."""
    think = (settings.get("agent") or {}).get("think") or {}
    session: dict[str, Any] = {"type": "realtime"}
    if isinstance(think.get("prompt"), str):
        session["instructions"] = think["prompt"]
    functions = think.get("functions") or []
    if functions:
        session["tools"] = [{"type": "function", "name": f.get("name"), "description": f.get("description", ""),
                             "parameters": f.get("parameters") or {"type": "object", "properties": {}}}
                            for f in functions]
    return session


def item_text(item: dict) -> str:
    """The text of a conversation item: its text parts, else its audio transcripts."""
    parts = item.get("content") or []
    texts = [p.get("text") for p in parts if isinstance(p, dict) and p.get("text")]
    if not texts:
        texts = [p.get("transcript") for p in parts if isinstance(p, dict) and p.get("transcript")]
    return "".join(texts)
