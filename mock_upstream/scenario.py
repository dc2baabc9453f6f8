"""Scenarios: what the mock upstream does, as data (dataclasses loadable from TOML).

A scenario starts from the real service's behaviour (the defaults below) and adds
rules: delay a named server event, drop it, close the socket at a trigger.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).with_name("scenarios")

# Moments a close rule can fire at (the engine raises them).
TRIGGERS = (
    "connect",                     # the socket was accepted
    "session_update",              # the first session.update arrived
    "first_user_item",             # the first user conversation.item.create arrived
    "premature_response_create",   # response.create while the latest user item is unconfirmed
    "response_done",               # a response finished
    "function_call_output",        # a function_call_output item arrived
)
HANDSHAKES = ("accept", "reject", "stall")


class ScenarioError(ValueError):
    """A scenario file or override is malformed; the message names the file and key."""


@dataclass(frozen=True)
class Delay:
    """Hold back every server event of this type (for items: of this role) by ms."""

    event: str
    ms: int
    role: str | None = None


@dataclass(frozen=True)
class Drop:
    """Never send server events of this type (for items: of this role)."""

    event: str
    role: str | None = None


@dataclass(frozen=True)
class Close:
    """Close the socket with code and reason, after_ms after the trigger."""

    trigger: str
    after_ms: int = 0
    code: int = 1000
    reason: str = ""
    # False: the rule models a conditional behaviour of the service and may never fire.
    expected: bool = True


@dataclass(frozen=True)
class Duplicate:
    """Send every server event of this type (for items: of this role) twice."""

    event: str
    role: str | None = None


@dataclass(frozen=True)
class Reorder:
    """Hold back the next server event of type `event` until the next `after` event has been sent."""

    event: str
    after: str


@dataclass(frozen=True)
class InjectError:
    """Send an `error` event with this code after_ms after the trigger."""

    trigger: str
    code: str
    after_ms: int = 0
    type: str = "invalid_request_error"
    message: str = "injected by the scenario"
    expected: bool = True


@dataclass(frozen=True)
class Turn:
    """What the service answers to one response.create: text (the default) or a function call."""

    kind: str = "text"                 # text | function_call
    name: str = ""
    arguments: str = "{}"
    text: str | None = None            # None: the scenario's reply_text


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    description: str = "behaves like the real service, including the 2.7 s close"
    # Latency of the service's confirmation of a client item (item.added, item.done).
    confirm_latency_ms: int = 40
    # Latency from an accepted response.create to the response's first output (response.output_item.added and
    # what follows); response.created itself comes at once, and the response is active from then on.
    reply_latency_ms: int = 30
    # Gap between consecutive reply deltas.
    delta_interval_ms: int = 5
    # {user_text} is replaced by the text of the latest user item.
    reply_text: str = "Mock reply to: {user_text}"
    # Deltas per content part.
    reply_chunks: int = 3
    # Content parts of each assistant message item: the reply text (or an audio reply's transcript, and its
    # audio deltas) is split across them, each streamed with its own content_part.added ... content_part.done.
    reply_parts: int = 1
    # False: response.create is accepted but never answered.
    replies: bool = True
    # Audio deltas (PCM16 24 kHz, audio_chunk_ms each) in every text reply; 0: text only.
    reply_audio_chunks: int = 0
    audio_chunk_ms: int = 20
    # Replies in order, one per answered response.create; past the end: text replies.
    script: tuple[Turn, ...] = ()
    # Server VAD: after this many ms of appended audio the service detects an utterance
    # (speech_started at the first append; then speech_stopped, committed, transcription
    # and a reply). 0: no server VAD.
    vad_utterance_ms: int = 0
    transcript: str = "transcribed speech"
    # How the service answers the WebSocket handshake: accept, reject (HTTP 503), stall (never answers).
    handshake: str = "accept"
    delays: tuple[Delay, ...] = ()
    drops: tuple[Drop, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    reorders: tuple[Reorder, ...] = ()
    errors: tuple[InjectError, ...] = ()
    closes: tuple[Close, ...] = (
        Close(trigger="premature_response_create", after_ms=2700, code=1000, expected=False),
    )

    def with_overrides(self, **overrides: Any) -> "Scenario":
        """A copy with top-level fields replaced; rule lists given as dicts are converted."""
        return _build(dataclasses.asdict(self) | overrides, f"scenario {self.name!r} overrides")


_RULES = {"delays": Delay, "drops": Drop, "closes": Close, "duplicates": Duplicate, "reorders": Reorder,
          "errors": InjectError, "script": Turn}
_TOML_KEYS = {"delay": "delays", "drop": "drops", "close": "closes", "duplicate": "duplicates",
              "reorder": "reorders", "error": "errors", "turn": "script"}


def _build(data: dict[str, Any], where: str) -> Scenario:
    known = {f.name for f in dataclasses.fields(Scenario)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values = dict(data)
    for key, cls in _RULES.items():
        if key in values:
            values[key] = tuple(_rule(cls, r, f"{where}: {key}") for r in values[key])
    try:
        scenario = Scenario(**values)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    for rule in (*scenario.closes, *scenario.errors):
        if rule.trigger not in TRIGGERS:
            raise ScenarioError(f"{where}: trigger {rule.trigger!r} is not one of {', '.join(TRIGGERS)}")
    for turn in scenario.script:
        if turn.kind not in ("text", "function_call"):
            raise ScenarioError(f"{where}: turn kind {turn.kind!r} is not text or function_call")
    if not isinstance(scenario.reply_parts, int) or scenario.reply_parts < 1:
        raise ScenarioError(f"{where}: reply_parts must be at least 1, got {scenario.reply_parts}")
    if scenario.handshake not in HANDSHAKES:
        raise ScenarioError(f"{where}: handshake {scenario.handshake!r} is not one of {', '.join(HANDSHAKES)}")
    return scenario


def _rule(cls: type, value: Any, where: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: each rule must be a table, got {value!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    try:
        return cls(**value)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def from_toml(path: Path) -> Scenario:
    """Load one scenario file: top-level fields plus [[delay]], [[drop]], [[close]] tables."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    data.setdefault("name", path.stem)
    for toml_key, field_name in _TOML_KEYS.items():
        if toml_key in data:
            data[field_name] = data.pop(toml_key)
    return _build(data, str(path))


def names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load(name_or_path: str) -> Scenario:
    """A named scenario from scenarios/, or a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ScenarioError(f"scenario file {name_or_path} not found")
        return from_toml(path)
    candidate = SCENARIO_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}: use one of {', '.join(names())} or a path to a .toml file"
        )
    return from_toml(candidate)
