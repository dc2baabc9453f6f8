"""The service's session configuration and how a `session.update` changes it: pure functions, no state.

The part that matters here is turn detection (PROTOCOL.md section 3): a new session has server VAD on, as the
real service does; `session.audio.input.turn_detection: null` turns it off, an object replaces it (the fields it
leaves out take the service's defaults, so `create_response` and `interrupt_response` default to true), and an
update without the key leaves it as it is. Only fields the `openai` package's session model declares are
shown, so `session.created` and `session.updated` validate as server events.
"""

from __future__ import annotations

import copy
from typing import Any

# The service's defaults for server VAD, as session.created shows them.
SERVER_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
              "create_response": True, "interrupt_response": True}
SEMANTIC_VAD = {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}


def initial() -> dict[str, Any]:
    """The session of a new connection."""
    return {"type": "realtime", "model": "gpt-realtime", "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": dict(SERVER_VAD)}}}


def updated(session: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The session after a (valid) session.update's `session`: top-level fields replaced, `audio.input` and
    `audio.output` merged field by field (so an update that sets the input format keeps turn detection), turn
    detection normalised. A new dict: earlier ones (already queued in events) are never changed."""
    result = copy.deepcopy(session)
    for key, value in update.items():
        if key == "audio" and isinstance(value, dict):
            audio = result.setdefault("audio", {})
            for side, fields in value.items():
                if isinstance(fields, dict) and isinstance(audio.get(side), dict):
                    audio[side] = {**audio[side], **copy.deepcopy(fields)}
                else:
                    audio[side] = copy.deepcopy(fields)
        else:
            result[key] = copy.deepcopy(value)
    audio_input = result.get("audio", {}).get("input")
    if isinstance(audio_input, dict) and "turn_detection" in audio_input:
        audio_input["turn_detection"] = _normalised(audio_input["turn_detection"])
    return result


def _normalised(turn_detection: Any) -> Any:
    """A turn detection object with the service's defaults for what it leaves out; None stays None (off)."""
    if not isinstance(turn_detection, dict):
        return turn_detection
    defaults = SEMANTIC_VAD if turn_detection.get("type") == "semantic_vad" else SERVER_VAD
    return {**defaults, **turn_detection}


def turn_detection(session: dict[str, Any]) -> dict[str, Any] | None:
    """The session's turn detection: None when it is off."""
    value = (session.get("audio") or {}).get("input", {}).get("turn_detection")
    return value if isinstance(value, dict) else None


def creates_response(session: dict[str, Any]) -> bool:
    """Turn detection is on and answers each committed utterance itself."""
    detection = turn_detection(session)
    return detection is not None and detection.get("create_response") is not False


def interrupts_response(session: dict[str, Any]) -> bool:
    """Turn detection is on and cancels an active response when speech starts."""
    detection = turn_detection(session)
    return detection is not None and detection.get("interrupt_response") is not False


def declares_function(session: dict[str, Any], response: dict[str, Any] | None = None) -> bool:
    """Whether the model may call a function in this response: its tools (a response.create's `response.tools`,
    else the session's `tools`) include one of type function. The service never calls a function it was not
    given, so a session without one answers a question that needs it in words."""
    tools = response["tools"] if isinstance(response, dict) and response.get("tools") is not None \
        else session.get("tools")
    return any(is_function(tool) for tool in tools or [])


def is_function(tool: Any) -> bool:
    """A function tool: of type function, or of no type (the openai package's models leave it optional)."""
    return isinstance(tool, dict) and tool.get("type", "function") == "function"
