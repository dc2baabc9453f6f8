"""How the service words its `error` for an invalid client event (PROTOCOL.md section 3).

What makes an event invalid is `voice_harness.wire.validation`'s (shared with the tap and the invariants); the
words of the answer are the service's, so they live with the mock.
"""

from __future__ import annotations

from typing import Any

from voice_harness.wire.validation import UNKNOWN_FIELD

# What the GA service accepts as an assistant message's content (PROTOCOL.md section 3).
ASSISTANT_CONTENT = ("output_text", "output_audio")


def rejection(event: Any, problems: list[str]) -> tuple[str, str, str | None]:
    """How the service words its `error` for an invalid client event: (code, message, param).
    A field the GA API does not have (e.g. session.temperature): unknown_parameter, naming it. A client-made
    assistant item whose content is input_text: invalid_value, naming the content type's path. Anything else:
    the mock's own invalid_event with the problems (no real text is known for those)."""
    wrong = _assistant_input_content(event)
    if wrong is not None:
        path, kind = wrong
        supported = " and ".join(f"'{k}'" for k in ASSISTANT_CONTENT)
        return "invalid_value", f"Invalid value: '{kind}'. Supported values are: {supported}.", path
    if problems and all(p.endswith(UNKNOWN_FIELD) for p in problems):
        path = problems[0][: -len(UNKNOWN_FIELD)]
        return "unknown_parameter", f"Unknown parameter: '{path}'.", path
    return "invalid_event", "; ".join(problems), None


def _assistant_input_content(event: Any) -> tuple[str, str] | None:
    """(path of the content type, the type) of the first input content part of a client-made assistant message."""
    if not isinstance(event, dict) or event.get("type") != "conversation.item.create":
        return None
    item = event.get("item")
    if not isinstance(item, dict) or item.get("role") != "assistant" or not isinstance(item.get("content"), list):
        return None
    for index, part in enumerate(item["content"]):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(kind, str) and kind not in ASSISTANT_CONTENT:
            return f"item.content[{index}].type", kind
    return None
