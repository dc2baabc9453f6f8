"""What a well-formed component-protocol message to the client looks like (WIRE-4), from component_messages.toml."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

MESSAGES_PATH = Path(__file__).with_name("component_messages.toml")
_TYPES = {"string": str, "list": list, "object": dict, "boolean": bool}
_CALL_FIELDS = {"id": str, "name": str, "arguments": str}


@lru_cache(maxsize=None)
def known() -> dict[str, dict]:
    with open(MESSAGES_PATH, "rb") as fh:
        return tomllib.load(fh)


def problems(message: Any) -> list[str]:
    """What is wrong with one JSON message sent to the client; empty when it is a known, complete message."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return ["not a JSON object with a string type"]
    spec = known().get(message["type"])
    if spec is None:
        return [f"unknown message type {message['type']!r}"]
    found = []
    for field, type_name in spec.items():
        if field == "one_of":
            continue
        if not isinstance(message.get(field), _TYPES[type_name]):
            found.append(f"{message['type']}.{field} must be a {type_name}")
    if "one_of" in spec:
        found += _function_call_problems(message)
    return found


def _function_call_problems(message: dict) -> list[str]:
    calls = message.get("functions") if "functions" in message else [message]
    if not isinstance(calls, list) or not calls:
        return ["FunctionCallRequest.functions must be a non-empty list"]
    return [f"FunctionCallRequest call {field} must be a string"
            for call in calls for field, kind in _CALL_FIELDS.items()
            if not isinstance(call, dict) or not isinstance(call.get(field), kind)]


def function_calls(request: Any) -> list[dict]:
    """The calls of a FunctionCallRequest, in either shape (a list under `functions`, or the older flat message);
    only the ones a host could answer (objects). A malformed shape gives none: MAP-4 judges it, no check crashes."""
    if not isinstance(request, dict):
        return []
    calls = request.get("functions", [request]) if "functions" in request else [request]
    return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []
