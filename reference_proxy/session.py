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

from voice_harness.reference_proxy.audio import AudioInput

# Close codes an endpoint may put in a close frame (RFC 6455 section 7.4, as websockets enforces it); any other
# (1005, 1006, 1015: "no code", "dropped", "TLS failed") is reported to the client in an Error instead (LIFE-5).
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
RECOVERABLE_CODES = {"idle_timeout", "session_max_duration"}


@dataclass(frozen=True)
class ToUpstream:
    event: dict


@dataclass(frozen=True)
class ToUpstreamBinary:
    """A binary frame upstream. The reference never sends one (WIRE-2); a defect does."""

    data: bytes


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


@dataclass(frozen=True)
class StartTimer:
    """Call on_timer(key) after seconds, unless the connection ended."""

    key: str
    seconds: float


Action = ToUpstream | ToUpstreamBinary | ToClient | ToClientAudio | CloseClient | CloseUpstream | Log | StartTimer

# ORD-6: how long a deferred response.create waits for the upstream's completion before the proxy recovers.
DEFERRED_RESPONSE_TIMEOUT_S = 3.0

# AUD-1: who owns turn detection. The reference lets the service's server VAD commit and answer spoken turns, and
# says so in its session.update (the service's default, stated rather than assumed); it only appends audio.
SERVER_VAD = {"type": "server_vad", "create_response": True, "interrupt_response": True}

# ERR-2: the service's 60-minute error carries no code of its own; it is recognised by its message.
MAX_DURATION_MESSAGE = "maximum duration"


def new_item_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def error(code: str, description: str) -> ToClient:
    return ToClient({"type": "Error", "code": code, "description": description})


class Session:
    """The reference behaviour. Each on_* method returns the actions to carry out, in order."""

    # LIFE-4: how long the server waits for the upstream handshake (None: forever).
    upstream_open_timeout_s: float | None = 5.0
    # ERR-3: upstream error codes the client must not see; the proxy caused them, the client cannot act on them.
    swallowed_error_codes: frozenset[str] = frozenset({"conversation_already_has_active_response"})
    # ORD-6: a defect changes how long the deferred response.create waits before the proxy recovers.
    deferred_response_timeout_s: float = DEFERRED_RESPONSE_TIMEOUT_S

    def __init__(self, new_id: Callable[[], str] = new_item_id):
        self._new_id = new_id
        self.session_update_sent = False
        self.ready = False                      # upstream sent session.updated
        self._unacked_settings = 0              # Settings waiting for their SettingsApplied
        self._greeting: str | None = None
        self._context: list[dict] = []
        self._awaiting_output: set[str] = set()   # function_call_output items whose completion defers a response
        self._in_response = False                # between the upstream's response.created and response.done
        self._agent_started: str | None = None   # AGENT-1/2: the output kind AgentStartedSpeaking was sent for
        self._agent_done_owed = False            # ... and its AgentAudioDone not sent yet
        self._transcripts: dict[str, str] = {}   # MAP-9: each item's transcription so far
        self._before_ready: list[tuple[str, Any]] = []
        self._awaiting_confirmation: set[str] = set()
        self._response_active = False
        self._responses_wanted = 0
        self._shown_items: set[str] = set()
        self._own_items: set[str] = set()         # MAP-11: items made here (context): never echoed as replies
        self._audio_in = AudioInput()            # WIRE-2: replaced by the declared format on Settings
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
        self._audio_in = self._audio_input(message)
        agent = message.get("agent") or {}
        greeting = agent.get("greeting")
        self._greeting = greeting if isinstance(greeting, str) and greeting else None
        messages = (agent.get("context") or {}).get("messages") or []
        self._context = [m for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant")
                         and isinstance(m.get("content"), str)]
        return [ToUpstream({"type": "session.update", "session": self._session_config(message)})]

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

    def _client_FunctionCallResponse(self, message: dict) -> list[Action]:
        call_id, content = message.get("id"), message.get("content")
        if not isinstance(call_id, str) or not isinstance(content, str):
            return [error("invalid_message", "FunctionCallResponse needs a string id and content")]
        item_id = self._new_id()
        self._awaiting_output.add(item_id)
        return [ToUpstream({"type": "conversation.item.create", "item": {
                    "id": item_id, "type": "function_call_output", "call_id": call_id, "output": content}}),
                StartTimer(f"deferred:{item_id}", self.deferred_response_timeout_s)]

    def on_timer(self, key: str) -> list[Action]:
        kind, _, item_id = key.partition(":")
        if kind != "deferred" or item_id not in self._awaiting_output or self.closed:
            return []
        self._awaiting_output.discard(item_id)
        log = Log(f"recovered: no completion of {item_id} within {self.deferred_response_timeout_s:g} s; "
                  f"sending the deferred response.create")
        # ORD-1: with a user item unconfirmed, its confirmation sends the response instead.
        return [log] + ([] if self._awaiting_confirmation else self._request_response())

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
        """LIFE-1: the client is closed too. LIFE-5: a close other than 1000 reaches it with its code and reason,
        or, when that code cannot be sent in a close frame, as an Error naming it, then close 1011."""
        self.closed = True
        logged = Log(f"upstream closed ({code}) {reason!r}")
        if code == 1000:
            return [logged, CloseClient(1000, "upstream closed (1000)")]
        if is_sendable_close_code(code):
            return [logged, CloseClient(code, reason)]
        return [logged, error("upstream_closed", f"upstream closed with code {code}"
                                                 f"{f' ({reason})' if reason else ''}, which cannot be relayed "
                                                 f"in a close frame"),
                CloseClient(1011, f"upstream closed ({code})")]

    def on_upstream_unreachable(self, description: str) -> list[Action]:
        self.closed = True
        return [error("upstream_unreachable", description), CloseClient(1011, "upstream unreachable")]

    def _upstream_session_updated(self, event: dict) -> list[Action]:
        if self.ready:
            return []
        self.ready = True
        actions = self._ack_settings()
        if self._greeting:
            actions += self._agent_output("greeting", [
                ToClient({"type": "ConversationText", "role": "assistant", "content": self._greeting})])
        for message in self._context:
            item = context_item(message, self._new_id())
            self._own_items.add(item["id"])
            actions.append(ToUpstream({"type": "conversation.item.create", "item": item}))
        for kind, payload in self._before_ready:
            actions += self._inject(payload) if kind == "text" else self._append_audio(payload)
        self._before_ready.clear()
        return actions

    def _upstream_conversation_item_added(self, event: dict) -> list[Action]:
        return self._on_item_confirmed(event.get("item") or {})

    def _upstream_conversation_item_done(self, event: dict) -> list[Action]:
        item = event.get("item") or {}
        return self._on_item_confirmed(item) + self._on_output_completed(item.get("id"), "conversation.item.done") + \
            self._show_assistant_item(item)

    def _upstream_response_created(self, event: dict) -> list[Action]:
        # ORD-4: a response the service started itself (server VAD) is as active as one the proxy asked for.
        self._response_active = True
        self._in_response = True
        return []

    def _upstream_response_done(self, event: dict) -> list[Action]:
        actions: list[Action] = []
        for item in (event.get("response") or {}).get("output") or []:
            actions += self._show_assistant_item(item)
        # AGENT-1/2: response.done is the one end every response has (several audio parts may come before it).
        actions += self._agent_finished()
        self._in_response = False
        if self._ends_response("response.done", event):
            self._response_active = False
        actions += self._on_output_completed(None, "response.done")
        if self._responses_wanted and not self._response_active:
            if self._awaiting_confirmation:
                # ORD-1: a user item sent meanwhile is unconfirmed; its confirmation asks for one response for
                # every turn still waiting.
                self._responses_wanted = 0
            else:
                self._responses_wanted -= 1
                actions += self._create_response()
        return actions

    def _upstream_response_output_text_done(self, event: dict) -> list[Action]:
        # TURN-1: not the end of a response (an audio reply and a function call have no output_text.done).
        if self._ends_response("response.output_text.done", event):
            self._response_active = False
        return self._on_output_completed(None, "response.output_text.done")

    def _upstream_response_function_call_arguments_done(self, event: dict) -> list[Action]:
        return self._agent_output("function_call", [ToClient({"type": "FunctionCallRequest", "functions": [{
            "id": event.get("call_id"), "name": event.get("name"), "arguments": event.get("arguments") or "",
            "client_side": True}]})])

    def _upstream_response_output_audio_delta(self, event: dict) -> list[Action]:
        try:
            audio = base64.b64decode(event.get("delta") or "", validate=True)
        except ValueError:
            return [Log("upstream sent audio that is not base64")]
        return self._agent_output("audio", [ToClientAudio(audio)])

    def _upstream_response_output_audio_done(self, event: dict) -> list[Action]:
        # AGENT-1: one audio part is done, not the response: AgentAudioDone waits for response.done.
        return []

    def _upstream_input_audio_buffer_speech_started(self, event: dict) -> list[Action]:
        return [ToClient({"type": "UserStartedSpeaking"})]

    def _upstream_input_audio_buffer_speech_stopped(self, event: dict) -> list[Action]:
        return [ToClient({"type": "UtteranceEnd"})]

    def _upstream_conversation_item_input_audio_transcription_delta(self, event: dict) -> list[Action]:
        delta = event.get("delta") or ""
        so_far = self._transcripts.get(event.get("item_id"), "") + delta
        self._transcripts[event.get("item_id")] = so_far
        return [ToClient({"type": "Transcript", "content": self._interim_transcript(so_far, delta),
                          "is_final": False})]

    def _upstream_conversation_item_input_audio_transcription_completed(self, event: dict) -> list[Action]:
        self._transcripts.pop(event.get("item_id"), None)
        transcript = event.get("transcript") or ""
        return [ToClient({"type": "Transcript", "content": transcript, "is_final": True}),
                ToClient({"type": "ConversationText", "role": "user", "content": transcript})]

    def _upstream_error(self, event: dict) -> list[Action]:
        detail = event.get("error") or {}
        code = detail.get("code") or detail.get("type") or "upstream_error"
        if code in self.swallowed_error_codes:
            return [Log(f"upstream error {code} not forwarded: {detail.get('message')}")]
        return [ToClient({"type": "Error", "code": self._client_error_code(code, detail.get("message") or ""),
                          "description": detail.get("message") or code})]

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
        if self._awaiting_confirmation:
            # A later user item is still unconfirmed: answering now would be premature for it (ORD-1);
            # one response for both once it is confirmed.
            return []
        return self._request_response()

    def _on_output_completed(self, item_id: str | None, signal: str) -> list[Action]:
        """ORD-3: a function_call_output completed (its item.done), or the upstream finished a response."""
        if not self._awaiting_output or (item_id is not None and item_id not in self._awaiting_output) or \
                not self._completes_function_output(signal):
            return []
        if item_id is None:
            self._awaiting_output.clear()
        else:
            self._awaiting_output.discard(item_id)
        if self._awaiting_confirmation:
            # ORD-1: a user item sent meanwhile is unconfirmed; its confirmation asks for one response for both.
            return []
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
        # MAP-11: an item this proxy made itself (a context message) is the client's own history, not a reply.
        if item.get("role") != "assistant" or item.get("id") in self._shown_items or item.get("id") in self._own_items:
            return []
        text = item_text(item)
        if not text:
            return []
        self._shown_items.add(item.get("id"))
        return self._agent_output("text", [ToClient({"type": "ConversationText", "role": "assistant",
                                                     "content": text})])

    # AGENT-1 / AGENT-2: the agent's activity, so that the app's idle timer knows the agent is busy. One
    # AgentStartedSpeaking before a response's first output to the client, one AgentAudioDone at its response.done
    # (after its last output). Output outside any response (the greeting) gets both around it at once.

    def _agent_output(self, kind: str, output: list[Action]) -> list[Action]:
        """`output` (of kind audio, text, function_call or greeting) with the activity signals it needs."""
        if not self._in_response:
            started = self._speaking_signal(kind, "AgentStartedSpeaking")
            return started + output + (self._speaking_signal(kind, "AgentAudioDone") if started else [])
        if self._agent_started is not None:
            return output
        started = self._speaking_signal(kind, "AgentStartedSpeaking")
        if started:
            self._agent_started, self._agent_done_owed = kind, True
        return started + output

    def _agent_finished(self) -> list[Action]:
        """The response is done: its AgentAudioDone, if its AgentStartedSpeaking went out and this did not yet."""
        kind, owed = self._agent_started, self._agent_done_owed
        self._agent_started, self._agent_done_owed = None, False
        return self._speaking_signal(kind, "AgentAudioDone") if owed and kind is not None else []

    def _speaking_signal(self, kind: str, message_type: str) -> list[Action]:
        """One speaking-state message (AgentStartedSpeaking or AgentAudioDone) for output of `kind`."""
        return [ToClient({"type": message_type})]

    def _interim_transcript(self, so_far: str, delta: str) -> str:
        """MAP-9: an interim Transcript carries the item's transcription so far, not only the latest delta."""
        return so_far

    def _client_error_code(self, code: str, message: str) -> str:
        """ERR-1 / ERR-2: the upstream code as is, except the 60-minute limit, which the service words but does not
        code (its code is not session_max_duration); the idle close already comes as idle_timeout."""
        if MAX_DURATION_MESSAGE in message.lower():
            return "session_max_duration"
        return code

    def _ends_response(self, event_type: str, event: dict) -> bool:
        """TURN-1: the event after which no response is active. Only response.done ends every response."""
        return event_type == "response.done"

    def _completes_function_output(self, signal: str) -> bool:
        """ORD-3 / FN-1: whether `signal` (conversation.item.done of the function_call_output, response.done,
        response.output_text.done) lets the deferred follow-up response.create go."""
        return True

    def _turn_detection(self) -> dict | None:
        """AUD-1: the session's turn detection: server VAD commits and answers spoken turns (None: the proxy
        does, and says so with turn_detection null)."""
        return dict(SERVER_VAD)

    def _session_config(self, settings: dict) -> dict:
        session = session_config(settings)
        session["audio"] = {"input": {"turn_detection": self._turn_detection()}}
        return session

    def _audio_input(self, settings: dict) -> AudioInput:
        """WIRE-2: client audio is converted from the format the client declared in Settings.audio.input."""
        audio = settings.get("audio")
        return AudioInput.declared(audio.get("input") if isinstance(audio, dict) else None)

    def _append_audio(self, data: bytes) -> list[Action]:
        pcm = self._audio_in.convert(data)
        if not pcm:  # CLI-3: a frame of one byte only; it waits for the rest of its sample
            return []
        return [ToUpstream({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})] + \
            self._audio_appended(pcm)

    def _audio_appended(self, pcm: bytes) -> list[Action]:
        """What follows an append of `pcm` (PCM16 24 kHz): nothing here, server VAD hears it (AUD-1); a variant
        that owns turn detection listens for the end of speech."""
        return []


def is_sendable_close_code(code: int | None) -> bool:
    return code is not None and (code in SENDABLE_CLOSE_CODES or 3000 <= code <= 4999)


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


def context_item(message: dict, item_id: str) -> dict:
    """A conversation item for one Settings.agent.context message."""
    part = "input_text" if message["role"] == "user" else "output_text"
    return {"id": item_id, "type": "message", "role": message["role"],
            "content": [{"type": part, "text": message["content"]}]}


def item_text(item: dict) -> str:
    """The text of a conversation item: its text parts, else its audio transcripts."""
    parts = item.get("content") or []
    texts = [p.get("text") for p in parts if isinstance(p, dict) and p.get("text")]
    if not texts:
        texts = [p.get("transcript") for p in parts if isinstance(p, dict) and p.get("transcript")]
    return "".join(texts)
