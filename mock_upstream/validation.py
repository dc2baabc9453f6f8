"""Validation of Realtime events against the `openai` package's typed models.

Strict: the models accept unknown fields (extra="allow"), so they are collected
by walking the parsed model and reported as problems too.
"""

from __future__ import annotations

from typing import Any, Collection

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter, ValidationError

_CLIENT = TypeAdapter(RealtimeClientEvent)
_SERVER = TypeAdapter(RealtimeServerEvent)


def client_event_problems(event: Any) -> list[str]:
    """Problems of one client event (proxy to upstream); empty when it is valid."""
    return _problems(_CLIENT, event)


def server_event_problems(event: Any, unknown_types: Collection[str] = ()) -> list[str]:
    """Problems of one server event (upstream to proxy); used to keep the mock honest. unknown_types: event
    types a scenario sends on purpose (types the client has never seen): an event of one of them passes."""
    if isinstance(event, dict) and event.get("type") in unknown_types:
        return []
    return _problems(_SERVER, event)


UNKNOWN_FIELD = ": unknown field"
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


def _problems(adapter: TypeAdapter, event: Any) -> list[str]:
    try:
        model = adapter.validate_python(event)
    except ValidationError as exc:
        return [f"{_path(err['loc'])}: {err['msg']}" for err in exc.errors()]
    return [f"{path}: unknown field" for path in _unknown_fields(model, "")]


def _path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(event)"


def _unknown_fields(value: Any, prefix: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, BaseModel):
        for key in (value.model_extra or {}):
            found.append(f"{prefix}{key}")
        for name in type(value).model_fields:
            found.extend(_unknown_fields(getattr(value, name), f"{prefix}{name}."))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.extend(_unknown_fields(item, f"{prefix.rstrip('.')}[{index}]."))
    return found
