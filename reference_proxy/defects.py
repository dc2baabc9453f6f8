"""Known field defects, each a small override of the reference session, switched on by --defect.

Every defect names the requirements it must turn red (`breaks`, in defects.toml, the data the harness
reads without importing this proxy): the sensitivity
matrix runs the suites against each one to prove that the harness's checks can
fail, and that a defect turns nothing else red. A defect models a real defect
class (the `guards` column of the catalogue), not an arbitrary breakage.
Each defect also composes with the feature-minimal variant (`session_class(name, minimal=True)`), where a
defect of an optional feature (greeting, context, functions) has nothing to act on.
"""

from __future__ import annotations

import json
import os
import tomllib
from array import array
from dataclasses import dataclass
from pathlib import Path

from voice_harness.reference_proxy.audio import AudioInput
from voice_harness.reference_proxy.client_turns import ClientTurnDetection
from voice_harness.reference_proxy.minimal import MinimalSession
from voice_harness.reference_proxy.session import (Action, CloseClient, CloseUpstream, Log, Session, StartTimer,
                                                   ToClient, ToClientAudio, ToUpstream, ToUpstreamBinary,
                                                   context_item, session_config)


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    breaks: tuple[str, ...]
    session_class: type[Session]
    # Requirements that also go red, and why: a defect that stops every reply fails every check that needs one.
    collateral: tuple[str, ...] = ()
    collateral_reason: str = ""
    # A correct variant (breaks empty): the requirements it must keep green.
    stays_green: tuple[str, ...] = ()


# What each defect is and breaks, as data (defects.toml); this module gives each its session class.
_DATA = {entry["name"]: entry for entry in
         tomllib.loads((Path(__file__).with_name("defects.toml")).read_text())["defect"]}
DEFECTS: dict[str, Defect] = {}


def defect(name: str):
    """Register the decorated session class as defect `name` of defects.toml."""
    if name not in _DATA:
        raise LookupError(f"defect {name!r} has no entry in defects.toml")
    entry = _DATA[name]

    def register(cls: type[Session]) -> type[Session]:
        DEFECTS[name] = Defect(name, entry["description"], tuple(entry["breaks"]), cls,
                               tuple(entry.get("collateral", ())), entry.get("collateral_reason", ""),
                               tuple(entry.get("stays_green", ())))
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

@defect("settings-applied-on-created")
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


@defect("double-session-update")
class DoubleSessionUpdate(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        if not self.session_update_sent:
            return super()._client_Settings(message)
        self._unacked_settings += 1
        self.ready = False
        return [ToUpstream({"type": "session.update", "session": self._session_config(message)})]


@defect("inject-before-ready")
class InjectBeforeReady(Session):
    def _client_InjectUserMessage(self, message: dict) -> list[Action]:
        content = message.get("content")
        return self._inject(content) if isinstance(content, str) else super()._client_InjectUserMessage(message)


# ------------------------------------------------------------------ ordering

@defect("premature-response-create")
class PrematureResponseCreate(Session):
    def _inject(self, text: str) -> list[Action]:
        actions = super()._inject(text)
        self._awaiting_confirmation.clear()
        return actions + self._request_response()


@defect("ack-any-item")
class AckAnyItem(Session):
    def _on_item_confirmed(self, item: dict) -> list[Action]:
        if not self._awaiting_confirmation:
            return []
        self._awaiting_confirmation.clear()
        return self._request_response()


@defect("audio-before-session-updated")
class AudioBeforeSessionUpdated(Session):
    def on_client_binary(self, data: bytes) -> list[Action]:
        return self._append_audio(data)


@defect("immediate-response-after-function-output")
class ImmediateResponseAfterFunctionOutput(Session):
    def _client_FunctionCallResponse(self, message: dict) -> list[Action]:
        actions = [a for a in super()._client_FunctionCallResponse(message) if isinstance(a, ToUpstream)]
        self._awaiting_output.clear()
        return actions + [ToUpstream({"type": "response.create"})]


@defect("no-active-response-guard")
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


@defect("turn-lost-during-reply")
class TurnLostDuringReply(Session):
    def _request_response(self) -> list[Action]:
        return self._create_response()


# The ORD-5 defects own turn detection (server VAD off), as a proxy that commits must (AUD-1): each is the
# client-turn-detection variant with its commit rule broken.

@defect("commit-on-every-chunk")
class CommitOnEveryChunk(ClientTurnDetection):
    def _audio_appended(self, pcm: bytes) -> list[Action]:
        return super()._audio_appended(pcm) + [ToUpstream({"type": "input_audio_buffer.commit"})]


@defect("late-short-commit")
class LateShortCommit(ClientTurnDetection):
    """An end-of-speech timer: the buffer is committed a moment after the client's last audio frame, without
    checking that it holds 100 ms since the last commit, or any speech."""

    end_of_speech_after_s = 0.2
    min_commit_ms = 0
    needs_speech = False


@defect("no-deferred-response-recovery")
class NoDeferredResponseRecovery(Session):
    def on_timer(self, key: str) -> list[Action]:
        return []


# ---------------------------------------------------------------------- wire

@defect("json-as-binary")
class JsonAsBinary(Session):
    def _speaking_signal(self, kind: str, message_type: str) -> list[Action]:
        return [_as_binary(a) for a in super()._speaking_signal(kind, message_type)]


def _as_binary(action: Action) -> Action:
    if isinstance(action, ToClient):
        return ToClientAudio(json.dumps(action.message).encode())
    return action


@defect("binary-audio-upstream")
class BinaryAudioUpstream(Session):
    def _append_audio(self, data: bytes) -> list[Action]:
        return [ToUpstreamBinary(data)]


@defect("append-with-format-field")
class AppendWithFormatField(Session):
    def _append_audio(self, data: bytes) -> list[Action]:
        return [ToUpstream(dict(a.event, input_audio_format="pcm16")) if isinstance(a, ToUpstream) else a
                for a in super()._append_audio(data)]


@defect("ignore-client-audio")
class IgnoreClientAudio(Session):
    def on_client_binary(self, data: bytes) -> list[Action]:
        return []


@defect("resample-from-fixed-rate")
class ResampleFromFixedRate(Session):
    def _audio_input(self, settings: dict) -> AudioInput:
        return AudioInput(16000)


@defect("forward-keepalive")
class ForwardKeepAlive(Session):
    def _client_KeepAlive(self, message: dict) -> list[Action]:
        return [ToUpstream(dict(message))]


@defect("forward-unknown-types")
class ForwardUnknownTypes(Session):
    def on_client_text(self, text: str) -> list[Action]:
        try:
            message = json.loads(text)
        except ValueError:
            return super().on_client_text(text)
        if isinstance(message, dict) and isinstance(message.get("type"), str) and \
                not hasattr(self, "_client_" + message["type"]):
            return [self._forwarded(message, text)]
        return super().on_client_text(text)

    def _forwarded(self, message: dict, text: str) -> Action:
        return ToUpstream(message)


@defect("keepalive-as-binary-upstream")
class KeepAliveAsBinaryUpstream(Session):
    def _client_KeepAlive(self, message: dict) -> list[Action]:
        return [ToUpstreamBinary(json.dumps(message).encode())]


@defect("forward-unknown-as-binary")
class ForwardUnknownAsBinary(ForwardUnknownTypes):
    def _forwarded(self, message: dict, text: str) -> Action:
        return ToUpstreamBinary(text.encode())


@defect("all-events-as-binary-upstream")
class AllEventsAsBinaryUpstream(Session):
    """Every event the proxy makes goes upstream as a binary frame of its JSON: each entry point's answer with
    its ToUpstream actions sent as bytes."""

    def on_client_text(self, text: str) -> list[Action]:
        return _upstream_as_bytes(super().on_client_text(text))

    def on_client_binary(self, data: bytes) -> list[Action]:
        return _upstream_as_bytes(super().on_client_binary(data))

    def on_client_closed(self) -> list[Action]:
        return _upstream_as_bytes(super().on_client_closed())

    def on_timer(self, key: str) -> list[Action]:
        return _upstream_as_bytes(super().on_timer(key))

    def on_upstream_text(self, text: str) -> list[Action]:
        return _upstream_as_bytes(super().on_upstream_text(text))

    def on_upstream_closed(self, code: int | None, reason: str) -> list[Action]:
        return _upstream_as_bytes(super().on_upstream_closed(code, reason))

    def on_upstream_unreachable(self, description: str) -> list[Action]:
        return _upstream_as_bytes(super().on_upstream_unreachable(description))


def _upstream_as_bytes(actions: list[Action]) -> list[Action]:
    return [ToUpstreamBinary(json.dumps(a.event).encode()) if isinstance(a, ToUpstream) else a for a in actions]


@defect("raw-upstream-events")
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

@defect("truncate-user-text")
class TruncateUserText(Session):
    def _inject(self, text: str) -> list[Action]:
        actions = super()._inject(text)
        for action in actions:
            if isinstance(action, ToUpstream):
                action.event["item"]["content"][0]["text"] = text[:32]
        return actions


@defect("no-user-echo")
class NoUserEcho(Session):
    def _inject(self, text: str) -> list[Action]:
        return [a for a in super()._inject(text) if not isinstance(a, ToClient)]


@defect("duplicate-assistant-text")
class DuplicateAssistantText(Session):
    def _show_assistant_item(self, item: dict) -> list[Action]:
        self._shown_items.discard(item.get("id"))
        return super()._show_assistant_item(item)


@defect("trim-and-newline-join-parts")
class TrimAndNewlineJoinParts(Session):
    """Correct, not a defect: each assistant item's text parts trimmed and joined by newlines, shown once."""

    def _show_assistant_item(self, item: dict) -> list[Action]:
        parts = [p for p in item.get("content") or [] if isinstance(p, dict)]
        texts = [p["text"] for p in parts if p.get("text")] or [p["transcript"] for p in parts if p.get("transcript")]
        joined = "\n".join(t.strip() for t in texts)
        return super()._show_assistant_item(dict(item, content=[{"type": "output_text", "text": joined}]))


@defect("function-call-id-from-item")
class FunctionCallIdFromItem(Session):
    def _upstream_response_function_call_arguments_done(self, event: dict) -> list[Action]:
        return super()._upstream_response_function_call_arguments_done(dict(event, call_id=event.get("item_id")))


@defect("function-output-wrapped")
class FunctionOutputWrapped(Session):
    def _client_FunctionCallResponse(self, message: dict) -> list[Action]:
        content = message.get("content")
        wrapped = dict(message, content=json.dumps({"result": content})) if isinstance(content, str) else message
        return super()._client_FunctionCallResponse(wrapped)


@defect("greeting-upstream")
class GreetingUpstream(Session):
    def _upstream_session_updated(self, event: dict) -> list[Action]:
        greeting = self._greeting
        actions = super()._upstream_session_updated(event)
        if greeting:
            actions.append(ToUpstream({"type": "conversation.item.create", "item": context_item(
                {"role": "assistant", "content": greeting}, self._new_id())}))
        return actions


@defect("drop-context")
class DropContext(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        actions = super()._client_Settings(message)
        self._context = []
        return actions


@defect("no-tools")
class NoTools(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        actions = super()._client_Settings(message)
        for action in actions:
            if isinstance(action, ToUpstream) and action.event["type"] == "session.update":
                action.event["session"].pop("tools", None)
        return actions


@defect("paraphrase-prompt")
class ParaphrasePrompt(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        actions = super()._client_Settings(message)
        for action in actions:
            if isinstance(action, ToUpstream) and action.event["type"] == "session.update" and \
                    isinstance(action.event["session"].get("instructions"), str):
                action.event["session"]["instructions"] = action.event["session"]["instructions"].upper()
        return actions


@defect("no-vad-events")
class NoVadEvents(Session):
    def _upstream_input_audio_buffer_speech_started(self, event: dict) -> list[Action]:
        return []

    def _upstream_input_audio_buffer_speech_stopped(self, event: dict) -> list[Action]:
        return []

    def _upstream_conversation_item_input_audio_transcription_delta(self, event: dict) -> list[Action]:
        return []

    def _upstream_conversation_item_input_audio_transcription_completed(self, event: dict) -> list[Action]:
        return []


# -------------------------------------------------------------------- errors

@defect("error-code-as-type")
class ErrorCodeAsType(Session):
    def _upstream_error(self, event: dict) -> list[Action]:
        detail = event.get("error") or {}
        return super()._upstream_error(dict(event, error=dict(detail, code=detail.get("type"))))


@defect("forward-active-response-error")
class ForwardActiveResponseError(Session):
    swallowed_error_codes = frozenset()


# -------------------------------------------------------------- client input

@defect("crash-on-malformed-frame")
class CrashOnMalformedFrame(Session):
    def on_client_text(self, text: str) -> list[Action]:
        try:
            json.loads(text)
        except ValueError:
            os._exit(70)  # the defect: an unhandled parse error takes the whole process down
        return super().on_client_text(text)


@defect("crash-on-odd-length-frame")
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

@defect("hang-on-upstream-close")
class HangOnUpstreamClose(Session):
    def on_upstream_closed(self, code: int | None, reason: str) -> list[Action]:
        self.closed = True
        return [Log(f"upstream closed {code}; client left open")]


@defect("close-code-dropped")
class CloseCodeDropped(Session):
    def on_upstream_closed(self, code: int | None, reason: str) -> list[Action]:
        self.closed = True
        return [Log(f"upstream closed ({code}) {reason!r}"), CloseClient(1000, "upstream closed")]


@defect("leak-upstream-on-client-close")
class LeakUpstreamOnClientClose(Session):
    def on_client_closed(self) -> list[Action]:
        return [a for a in super().on_client_closed() if not isinstance(a, CloseUpstream)]


@defect("no-upstream-timeout")
class NoUpstreamTimeout(Session):
    upstream_open_timeout_s = None


# ------------------------------------------------------------ catalogue v3 (issue 20)

defect("client-turn-detection")(ClientTurnDetection)


@defect("active-until-text-done")
class ActiveUntilTextDone(Session):
    def _ends_response(self, event_type: str, event: dict) -> bool:
        if event_type == "response.output_text.done":
            return True
        # The partial fix: the function-call hang was fixed by letting a function call's response.done end it.
        output = (event.get("response") or {}).get("output") or []
        return event_type == "response.done" and any(
            isinstance(item, dict) and item.get("type") == "function_call" for item in output)


@defect("commit-timer-not-rearmed")
class CommitTimerNotRearmed(ClientTurnDetection):
    def _end_of_utterance(self) -> list[Action]:
        if not self._response_active:
            return super()._end_of_utterance()
        if not self._speech.heard:
            return []
        self._speech.reset()   # the defect: skipped for the reply, and nothing arms the decision again
        return [Log("end of utterance during a response: commit skipped")]


@defect("follow-up-waits-for-text-done")
class FollowUpWaitsForTextDone(Session):
    def _completes_function_output(self, signal: str) -> bool:
        return signal == "response.output_text.done"


@defect("follow-up-after-20s")
class FollowUpAfter20s(Session):
    deferred_response_timeout_s = 20.0

    def _completes_function_output(self, signal: str) -> bool:
        return False


@defect("no-agent-signals")
class NoAgentSignals(Session):
    def _speaking_signal(self, kind: str, message_type: str) -> list[Action]:
        return []


@defect("audio-done-before-audio-ends")
class AudioDoneBeforeAudioEnds(Session):
    def _upstream_response_output_audio_done(self, event: dict) -> list[Action]:
        if not self._agent_done_owed:
            return []
        self._agent_done_owed = False   # started stays set: a later part of the response starts nothing again
        return self._speaking_signal("audio", "AgentAudioDone")


@defect("agent-signals-text-only-missing")
class AgentSignalsTextOnlyMissing(Session):
    def _speaking_signal(self, kind: str, message_type: str) -> list[Action]:
        return super()._speaking_signal(kind, message_type) if kind == "audio" else []


@defect("error-for-unmapped-events")
class ErrorForUnmappedEvents(Session):
    """Its switch has a case for each event the reference maps to the client, and for session.created (it waits
    for it); response.created, which the reference handles only to know a response is active, has none."""

    def on_upstream_text(self, text: str) -> list[Action]:
        actions = super().on_upstream_text(text)
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            return actions
        if not isinstance(kind, str) or kind == "session.created" or \
                (kind != "response.created" and hasattr(self, "_upstream_" + kind.replace(".", "_"))):
            return actions
        return actions + [ToClient({"type": "Error", "code": "unmapped_event",
                                    "description": f"unmapped upstream event {kind}"})]


@defect("commits-with-server-vad-on")
class CommitsWithServerVadOn(ClientTurnDetection):
    def _session_config(self, settings: dict) -> dict:
        session = super()._session_config(settings)
        session.pop("audio", None)   # the defect: turn detection left as the service has it, server VAD on
        return session


@defect("echo-context-items")
class EchoContextItems(Session):
    def _upstream_session_updated(self, event: dict) -> list[Action]:
        actions = super()._upstream_session_updated(event)
        self._own_items.clear()
        return actions


@defect("server-error-as-idle-timeout")
class ServerErrorAsIdleTimeout(Session):
    def _client_error_code(self, code: str, message: str) -> str:
        return "idle_timeout" if code == "server_error" else super()._client_error_code(code, message)


@defect("temperature-in-session")
class TemperatureInSession(Session):
    def _session_config(self, settings: dict) -> dict:
        session = super()._session_config(settings)
        provider = (((settings.get("agent") or {}).get("think") or {}).get("provider") or {})
        temperature = provider.get("temperature") if isinstance(provider, dict) else None
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
            session["temperature"] = temperature
        return session


@defect("interim-transcript-last-delta-only")
class InterimTranscriptLastDeltaOnly(Session):
    def _interim_transcript(self, so_far: str, delta: str) -> str:
        return delta


_MISSING = sorted(set(_DATA) - set(DEFECTS))
if _MISSING:
    raise LookupError(f"defects.toml lists defects without a session class: {', '.join(_MISSING)}")
