"""Validation of Realtime events against the `openai` package's typed models.

Strict: the models accept unknown fields (extra="allow"), so they are collected
by walking the parsed model and reported as problems too.

Part of the floor (`wire`): the tap validates what a proxy sends a real upstream, the mock what a proxy sends it,
the invariants what went over leg B, and the mock keeps its own events honest with it.
"""

from __future__ import annotations

from typing import Any, Collection

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter, ValidationError

_CLIENT = TypeAdapter(RealtimeClientEvent)
_SERVER = TypeAdapter(RealtimeServerEvent)

# How a problem of a field the models do not have ends ("session.temperature: unknown field").
UNKNOWN_FIELD = ": unknown field"


def client_event_problems(event: Any) -> list[str]:
    """Problems of one client event (proxy to upstream); empty when it is valid."""
    return _problems(_CLIENT, event)


def server_event_problems(event: Any, unknown_types: Collection[str] = ()) -> list[str]:
    """Problems of one server event (upstream to proxy); used to keep the mock honest. unknown_types: event
    types a scenario sends on purpose (types the client has never seen): an event of one of them passes."""
    if isinstance(event, dict) and event.get("type") in unknown_types:
        return []
    return _problems(_SERVER, event)


def _problems(adapter: TypeAdapter, event: Any) -> list[str]:
    try:
        model = adapter.validate_python(event)
    except ValidationError as exc:
        return [f"{_path(err['loc'])}: {err['msg']}" for err in exc.errors()]
    return [f"{path}{UNKNOWN_FIELD}" for path in _unknown_fields(model, "")]


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
