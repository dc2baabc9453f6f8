"""Known field defects, each a small override of the reference session, switched on by --defect.

Every defect names the requirements it must turn red (`breaks`): the sensitivity
matrix runs the suites against each one to prove that the harness's checks can
fail, and that a defect turns nothing else red. A defect models a real defect
class (the `guards` column of the catalogue), not an arbitrary breakage.
Each defect also composes with the feature-minimal variant (`session_class(name, minimal=True)`), where a
defect of an optional feature (greeting, context, functions) has nothing to act on.
"""

from __future__ import annotations

import json
import os
from array import array
from dataclasses import dataclass

from .audio import AudioInput
from .minimal import MinimalSession
from .session import (Action, CloseClient, CloseUpstream, Log, Session, ToClient, ToClientAudio, ToUpstream,
                      ToUpstreamBinary, context_item, session_config)


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    breaks: tuple[str, ...]
    session_class: type[Session]
    # Requirements that also go red, and why: a defect that stops every reply fails every check that needs one.
    collateral: tuple[str, ...] = ()
    collateral_reason: str = ""


DEFECTS: dict[str, Defect] = {}


def defect(name: str, breaks: tuple[str, ...], description: str, collateral: tuple[str, ...] = (),
           collateral_reason: str = ""):
    def register(cls: type[Session]) -> type[Session]:
        DEFECTS[name] = Defect(name, description, breaks, cls, collateral, collateral_reason)
        return cls
    return register


_COMPOSED: dict[tuple[str | None, bool], type[Session]] = {}


def session_class(name: str | None = None, minimal: bool = False) -> type[Session]:
    """The session of the reference proxy, or of its feature-minimal variant, with defect `name` switched on.

    A defect on the minimal variant is a class of its own whose bases are (defect, MinimalSession): the defect's
    override comes first, and the variant's dropped features come before the reference's."""
    key = (name, minimal)
    if key not in _COMPOSED:
        base = MinimalSession if minimal else Session
        if name is None:
            _COMPOSED[key] = base
        elif not minimal:
            _COMPOSED[key] = DEFECTS[name].session_class
        else:
            defect_class = DEFECTS[name].session_class
            _COMPOSED[key] = type(f"{defect_class.__name__}Minimal", (defect_class, MinimalSession),
                                  {"__module__": __name__, "__doc__": f"{name} on the feature-minimal variant"})
    return _COMPOSED[key]


# ----------------------------------------------------------------- readiness

@defect("settings-applied-on-created", ("READY-1",),
        "sends SettingsApplied when the upstream says session.created, before the session is configured")
class SettingsAppliedOnCreated(Session):
    _created = False

    def _upstream_session_created(self, event: dict) -> list[Action]:
        self._created = True
        return self._early_ack()

    def _client_Settings(self, message: dict) -> list[Action]:
        return super()._client_Settings(message) + self._early_ack()

    def _early_ack(self) -> list[Action]:
        if not (self._created and self._unacked_settings):
            return []
        return self._ack_settings()


@defect("double-session-update", ("READY-2",),
        "sends a new session.update for every Settings message instead of configuring the session once")
class DoubleSessionUpdate(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        if not self.session_update_sent:
            return super()._client_Settings(message)
        self._unacked_settings += 1
        self.ready = False
        return [ToUpstream({"type": "session.update", "session": session_config(message)})]


@defect("inject-before-ready", ("READY-3", "READY-4"),
        "forwards InjectUserMessage upstream at once, even before Settings or session.updated")
class InjectBeforeReady(Session):
    def _client_InjectUserMessage(self, message: dict) -> list[Action]:
        content = message.get("content")
        return self._inject(content) if isinstance(content, str) else super()._client_InjectUserMessage(message)


# ------------------------------------------------------------------ ordering

@defect("premature-response-create", ("CANARY-1", "ORD-1"),
        "sends response.create right after conversation.item.create, without waiting for the "
        "upstream to confirm the user item (the field defect behind the 2.7 s close); every check that needs a "
        "completed reply is inconclusive on it (no reply: CANARY-1's), not red")
class PrematureResponseCreate(Session):
    def _inject(self, text: str) -> list[Action]:
        actions = super()._inject(text)
        self._awaiting_confirmation.clear()
        return actions + self._request_response()


@defect("ack-any-item", ("ORD-1",),
        "sends the pending response.create on the first confirmation of any item, not of the user's item",
        collateral=("ORD-4",),
        collateral_reason="released by a server-VAD item's confirmation, its response.create also meets the response "
                          "the service started for that spoken turn; when the user item's confirmation goes out in "
                          "the same instant, that collision is all the wire shows")
class AckAnyItem(Session):
    def _on_item_confirmed(self, item: dict) -> list[Action]:
        if not self._awaiting_confirmation:
            return []
        self._awaiting_confirmation.clear()
        return self._request_response()


@defect("audio-before-session-updated", ("ORD-2",),
        "forwards microphone audio upstream as soon as it arrives, before the session is configured")
class AudioBeforeSessionUpdated(Session):
    def on_client_binary(self, data: bytes) -> list[Action]:
        return self._append_audio(data)


@defect("immediate-response-after-function-output", ("ORD-3",),
        "sends response.create right after the function_call_output item, without waiting for its completion")
class ImmediateResponseAfterFunctionOutput(Session):
    def _client_FunctionCallResponse(self, message: dict) -> list[Action]:
        actions = [a for a in super()._client_FunctionCallResponse(message) if isinstance(a, ToUpstream)]
        self._awaiting_output.clear()
        return actions + [ToUpstream({"type": "response.create"})]


@defect("no-active-response-guard", ("ORD-4",),
        "sends response.create for every confirmed user item, even while a response is still active; when the "
        "upstream rejects it (conversation_already_has_active_response) it sends it again after response.done, "
        "so no turn is lost (a retry-on-rejection fix)")
class NoActiveResponseGuard(Session):
    _sent_while_active = 0

    def _request_response(self) -> list[Action]:
        if self._response_active:
            self._sent_while_active += 1
        return self._create_response()

    def _upstream_error(self, event: dict) -> list[Action]:
        if (event.get("error") or {}).get("code") == "conversation_already_has_active_response" and \
                self._sent_while_active:
            self._sent_while_active -= 1
            self._responses_wanted += 1  # the retry: sent when the active response is done
        return super()._upstream_error(event)


@defect("turn-lost-during-reply", ("ORD-4", "ORD-7"),
        "sends response.create at once for a message confirmed while a response is active, instead of queueing "
        "it; the upstream rejects it with conversation_already_has_active_response, which the proxy hides (as "
        "ERR-3 asks), so that turn is never answered")
class TurnLostDuringReply(Session):
    def _request_response(self) -> list[Action]:
        return self._create_response()


@defect("commit-on-every-chunk", ("ORD-5",),
        "commits the input audio buffer after every audio chunk, however short")
class CommitOnEveryChunk(Session):
    def _append_audio(self, data: bytes) -> list[Action]:
        return super()._append_audio(data) + [ToUpstream({"type": "input_audio_buffer.commit"})]


@defect("no-deferred-response-recovery", ("ORD-6",),
        "waits forever for the completion of a function_call_output before the deferred response.create")
class NoDeferredResponseRecovery(Session):
    def on_timer(self, key: str) -> list[Action]:
        return []


# ---------------------------------------------------------------------- wire

@defect("json-as-binary", ("WIRE-1",),
        "sends the speaking-state JSON messages (AgentStartedSpeaking, AgentAudioDone) as binary frames, "
        "so the client feeds them to its audio player")
class JsonAsBinary(Session):
    def _upstream_response_output_audio_delta(self, event: dict) -> list[Action]:
        return [_as_binary(a) for a in super()._upstream_response_output_audio_delta(event)]

    def _upstream_response_output_audio_done(self, event: dict) -> list[Action]:
        return [_as_binary(a) for a in super()._upstream_response_output_audio_done(event)]


def _as_binary(action: Action) -> Action:
    if isinstance(action, ToClient):
        return ToClientAudio(json.dumps(action.message).encode())
    return action


@defect("binary-audio-upstream", ("WIRE-2",),
        "forwards the client's binary audio frames upstream as binary frames instead of input_audio_buffer.append")
class BinaryAudioUpstream(Session):
    def _append_audio(self, data: bytes) -> list[Action]:
        return [ToUpstreamBinary(data)]


@defect("append-with-format-field", ("WIRE-3",),
        "adds the audio format to every input_audio_buffer.append (a field of the beta API's session, not of this "
        "GA client event), so the service rejects each append as an invalid event")
class AppendWithFormatField(Session):
    def _append_audio(self, data: bytes) -> list[Action]:
        return [ToUpstream(dict(a.event, input_audio_format="pcm16")) if isinstance(a, ToUpstream) else a
                for a in super()._append_audio(data)]


@defect("resample-from-fixed-rate", ("WIRE-2",),
        "resamples client audio to 24 kHz as if it were 16 kHz, whatever Settings.audio.input declares (a rate "
        "hard-coded from another integration), so at a declared 24 kHz the upstream gets 1.5 times the samples")
class ResampleFromFixedRate(Session):
    def _audio_input(self, settings: dict) -> AudioInput:
        return AudioInput(16000)


@defect("forward-keepalive", ("CLI-1",),
        "forwards the component-level KeepAlive upstream, where it is not a Realtime client event")
class ForwardKeepAlive(Session):
    def _client_KeepAlive(self, message: dict) -> list[Action]:
        return [ToUpstream(dict(message))]


@defect("forward-unknown-types", ("CLI-2",),
        "forwards client messages of unknown types upstream unchanged instead of answering Error")
class ForwardUnknownTypes(Session):
    def on_client_text(self, text: str) -> list[Action]:
        try:
            message = json.loads(text)
        except ValueError:
            return super().on_client_text(text)
        if isinstance(message, dict) and isinstance(message.get("type"), str) and \
                not hasattr(self, "_client_" + message["type"]):
            return [ToUpstream(message)]
        return super().on_client_text(text)


@defect("raw-upstream-events", ("WIRE-4", "MAP-10"),
        "passes every upstream event it does not translate straight through to the client")
class RawUpstreamEvents(Session):
    def on_upstream_text(self, text: str) -> list[Action]:
        actions = super().on_upstream_text(text)
        if actions:
            return actions
        try:
            event = json.loads(text)
        except ValueError:
            return actions
        return [ToClient(event)] if isinstance(event, dict) else actions


# ------------------------------------------------------------------- mapping

@defect("truncate-user-text", ("MAP-1",),
        "cuts the user's text to 32 characters in the upstream item (a buffer-size defect)")
class TruncateUserText(Session):
    def _inject(self, text: str) -> list[Action]:
        actions = super()._inject(text)
        for action in actions:
            if isinstance(action, ToUpstream):
                action.event["item"]["content"][0]["text"] = text[:32]
        return actions


@defect("no-user-echo", ("MAP-2",),
        "does not echo the user's turn to the client as ConversationText")
class NoUserEcho(Session):
    def _inject(self, text: str) -> list[Action]:
        return [a for a in super()._inject(text) if not isinstance(a, ToClient)]


@defect("duplicate-assistant-text", ("MAP-3",),
        "sends the assistant's text twice: from conversation.item.done and again from response.done")
class DuplicateAssistantText(Session):
    def _show_assistant_item(self, item: dict) -> list[Action]:
        self._shown_items.discard(item.get("id"))
        return super()._show_assistant_item(item)


@defect("function-call-id-from-item", ("MAP-4",),
        "puts the function call's item id, not its call_id, in FunctionCallRequest")
class FunctionCallIdFromItem(Session):
    def _upstream_response_function_call_arguments_done(self, event: dict) -> list[Action]:
        return super()._upstream_response_function_call_arguments_done(dict(event, call_id=event.get("item_id")))


@defect("function-output-wrapped", ("MAP-5",),
        "wraps the host's result as {\"result\": content} instead of passing content as the output")
class FunctionOutputWrapped(Session):
    def _client_FunctionCallResponse(self, message: dict) -> list[Action]:
        content = message.get("content")
        wrapped = dict(message, content=json.dumps({"result": content})) if isinstance(content, str) else message
        return super()._client_FunctionCallResponse(wrapped)


@defect("greeting-upstream", ("MAP-6",),
        "sends the greeting upstream as an assistant conversation item instead of only showing it")
class GreetingUpstream(Session):
    def _upstream_session_updated(self, event: dict) -> list[Action]:
        greeting = self._greeting
        actions = super()._upstream_session_updated(event)
        if greeting:
            actions.append(ToUpstream({"type": "conversation.item.create", "item": context_item(
                {"role": "assistant", "content": greeting}, self._new_id())}))
        return actions


@defect("drop-context", ("MAP-7",),
        "ignores Settings.agent.context.messages, so the conversation history is lost on reconnect",
        collateral=("LIFE-3",), collateral_reason="LIFE-3 checks that context sent on reconnect reaches upstream")
class DropContext(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        actions = super()._client_Settings(message)
        self._context = []
        return actions


@defect("no-tools", ("MAP-8",),
        "does not pass Settings.agent.think.functions to session.tools")
class NoTools(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        actions = super()._client_Settings(message)
        for action in actions:
            if isinstance(action, ToUpstream) and action.event["type"] == "session.update":
                action.event["session"].pop("tools", None)
        return actions


@defect("no-vad-events", ("MAP-9",),
        "drops the upstream's speech_started, speech_stopped and transcription events")
class NoVadEvents(Session):
    def _upstream_input_audio_buffer_speech_started(self, event: dict) -> list[Action]:
        return []

    def _upstream_input_audio_buffer_speech_stopped(self, event: dict) -> list[Action]:
        return []

    def _upstream_conversation_item_input_audio_transcription_completed(self, event: dict) -> list[Action]:
        return []


# -------------------------------------------------------------------- errors

@defect("error-code-as-type", ("ERR-1", "ERR-2"),
        "puts the upstream error.type (e.g. invalid_request_error) in Error.code instead of error.code")
class ErrorCodeAsType(Session):
    def _upstream_error(self, event: dict) -> list[Action]:
        detail = event.get("error") or {}
        return super()._upstream_error(dict(event, error=dict(detail, code=detail.get("type"))))


@defect("forward-active-response-error", ("ERR-3",),
        "forwards conversation_already_has_active_response to the client, which then retries its turn")
class ForwardActiveResponseError(Session):
    swallowed_error_codes = frozenset()


# -------------------------------------------------------------- client input

@defect("crash-on-malformed-frame", ("CLI-3",),
        "the proxy process dies on a client frame that is not JSON")
class CrashOnMalformedFrame(Session):
    def on_client_text(self, text: str) -> list[Action]:
        try:
            json.loads(text)
        except ValueError:
            os._exit(70)  # the defect: an unhandled parse error takes the whole process down
        return super().on_client_text(text)


@defect("crash-on-odd-length-frame", ("CLI-3",),
        "the proxy process dies on a binary frame of odd length: its audio path unpacks whole 16-bit samples "
        "without a guard; a text frame that is not JSON is taken for audio and goes the same way")
class CrashOnOddLengthFrame(Session):
    def on_client_text(self, text: str) -> list[Action]:
        try:
            json.loads(text)
        except ValueError:
            return self.on_client_binary(text.encode())
        return super().on_client_text(text)

    def on_client_binary(self, data: bytes) -> list[Action]:
        try:
            array("h", data)
        except ValueError:
            os._exit(70)  # the defect: the unpacking error is not handled and takes the whole process down
        return super().on_client_binary(data)


# ----------------------------------------------------------------- lifecycle

@defect("hang-on-upstream-close", ("LIFE-1",),
        "keeps the client connection open after the upstream closed, so the client waits forever",
        collateral=("LIFE-5",),
        collateral_reason="the client is never closed and gets no Error, so it never learns the upstream's close "
                          "code either")
class HangOnUpstreamClose(Session):
    def on_upstream_closed(self, code: int | None, reason: str) -> list[Action]:
        self.closed = True
        return [Log(f"upstream closed {code}; client left open")]


@defect("close-code-dropped", ("LIFE-5",),
        "closes the client with 1000 whatever code the upstream closed with, and sends no Error, so a protocol "
        "kill (1008, 1011, a dropped connection) looks like a normal hang-up")
class CloseCodeDropped(Session):
    def on_upstream_closed(self, code: int | None, reason: str) -> list[Action]:
        self.closed = True
        return [Log(f"upstream closed ({code}) {reason!r}"), CloseClient(1000, "upstream closed")]


@defect("leak-upstream-on-client-close", ("LIFE-2",),
        "keeps the upstream session open after the client left")
class LeakUpstreamOnClientClose(Session):
    def on_client_closed(self) -> list[Action]:
        return [a for a in super().on_client_closed() if not isinstance(a, CloseUpstream)]


@defect("no-upstream-timeout", ("LIFE-4",),
        "waits without limit for the upstream handshake, so a stalled upstream hangs the client")
class NoUpstreamTimeout(Session):
    upstream_open_timeout_s = None
