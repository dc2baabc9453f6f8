"""Validation of Realtime events against the `openai` package's typed models.

Strict: the models accept unknown fields (extra="allow"), so they are collected
by walking the parsed model and reported as problems too.
"""

from __future__ import annotations

from typing import Any

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter, ValidationError

_CLIENT = TypeAdapter(RealtimeClientEvent)
_SERVER = TypeAdapter(RealtimeServerEvent)


def client_event_problems(event: Any) -> list[str]:
    """Problems of one client event (proxy to upstream); empty when it is valid."""
    return _problems(_CLIENT, event)


def server_event_problems(event: Any) -> list[str]:
    """Problems of one server event (upstream to proxy); used to keep the mock honest."""
    return _problems(_SERVER, event)


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
