"""Scenarios: what the mock upstream does, as data (dataclasses loadable from TOML).

A scenario starts from the real service's behaviour (the defaults below) and adds
rules: delay a named server event, drop it, close the socket at a trigger.

Every value is checked at load (TOML files and overrides alike) against its field's type: the annotations
below, where `Annotated[..., Check(...)]` adds a range or a set of allowed values to the plain type.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Collection, Union, get_args, get_origin, get_type_hints


SCENARIO_DIR = Path(__file__).with_name("scenarios")

# Moments a close rule can fire at (the engine raises them).
TRIGGERS = (
    "connect",                     # the socket was accepted
    "session_update",              # the first session.update arrived
    "first_user_item",             # the first user item: a conversation.item.create, or a committed utterance
    "premature_response_create",   # response.create while the latest user item is unconfirmed (not after the client's own commit)
    "response_done",               # a response finished
    "function_call_output",        # a function_call_output item arrived
)
HANDSHAKES = ("accept", "reject", "stall")
TURN_KINDS = ("text", "function_call")
# What a rule's role matches (the engine's `role` of an item event): the item's role, or its type when it has none.
ROLES = ("user", "assistant", "system", "function_call", "function_call_output")
# RFC 6455 section 7.4 and the IANA registry (1012-1014): the codes a server may put in a close frame. Not 1004
# (reserved), 1005, 1006 and 1015 (never sent in a frame), nor 1010 (a client's: the server lacks an extension).
CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 1014, *range(3000, 5000)})
MAX_CLOSE_REASON_BYTES = 123   # a close frame's payload is at most 125 bytes, 2 of them the code


def _event_types(hint: Any) -> frozenset[str]:
    """The `type` literals of a (possibly Annotated) union of the openai package's event models."""
    if get_origin(hint) is Annotated:
        return _event_types(get_args(hint)[0])
    if get_origin(hint) is Union:
        return frozenset().union(*map(_event_types, get_args(hint)))
    return frozenset(get_args(hint.model_fields["type"].annotation))


@functools.cache
def server_events() -> frozenset[str]:
    """Every server event type of the Realtime API (the mock sends a subset of them). Read from the openai
    package's models on first use: importing them costs half a second, which every command line would pay."""
    from openai.types.realtime import RealtimeServerEvent

    return _event_types(RealtimeServerEvent)


def __getattr__(name: str):
    if name == "SERVER_EVENTS":
        return server_events()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ScenarioError(ValueError):
    """A scenario file or override is malformed; the message names the file and key."""


@dataclass(frozen=True)
class Check:
    """A condition on a field's value beyond its type, attached to the type with typing.Annotated."""

    holds: Callable[[Any], bool]
    requirement: str            # completes "<key> must be ...", e.g. ">= 0"
    noun: str | None = None     # what a value of the right type is called, e.g. "an integer number of milliseconds"


def _at_least(minimum: int, noun: str | None = None) -> Check:
    return Check(lambda value: value >= minimum, f">= {minimum}", noun)


def _one_of(values: Collection, requirement: str | None = None) -> Check:
    return Check(lambda value: value in values, requirement or "one of " + ", ".join(values))


_MS = "an integer number of milliseconds"
Milliseconds = Annotated[int, _at_least(0, _MS)]
PositiveMilliseconds = Annotated[int, _at_least(1, _MS)]
Count = Annotated[int, _at_least(0)]
PositiveCount = Annotated[int, _at_least(1)]
ServerEvent = Annotated[str, Check(lambda value: value in server_events(), "a Realtime server event type")]
Role = Annotated[str, _one_of(ROLES)]
Trigger = Annotated[str, _one_of(TRIGGERS)]
CloseCode = Annotated[int, _one_of(CLOSE_CODES, "a close code a server may send (1000-1003, 1007-1009, "
                                                "1011-1014 or 3000-4999)")]
CloseReason = Annotated[str, Check(lambda reason: len(reason.encode()) <= MAX_CLOSE_REASON_BYTES,
                                   f"at most {MAX_CLOSE_REASON_BYTES} bytes in UTF-8 (a close frame's limit)")]
Handshake = Annotated[str, _one_of(HANDSHAKES)]
UnknownEvents = Annotated[list, Check(
    lambda types: all(isinstance(t, str) and "." in t and t not in server_events() for t in types),
    "a list of event types the Realtime API does not have (dotted names, e.g. \"response.future_feature\")",
    "a list of event type strings")]
TurnKind = Annotated[str, _one_of(TURN_KINDS)]
# The verdicts a scenario may declare for a requirement id (`expect`): what a misbehaving upstream forces.
EXPECTABLE = ("fail", "inconclusive")
Expectations = Annotated[dict, Check(
    lambda table: all(isinstance(rid, str) and verdict in EXPECTABLE for rid, verdict in table.items()),
    'a table of requirement id = "fail" or "inconclusive"', 'a table of requirement id = verdict')]


@dataclass(frozen=True)
class Delay:
    """Hold back every server event of this type (for items: of this role) by ms."""

    event: ServerEvent
    ms: Milliseconds
    role: Role | None = None


@dataclass(frozen=True)
class Drop:
    """Never send server events of this type (for items: of this role)."""

    event: ServerEvent
    role: Role | None = None


@dataclass(frozen=True)
class Close:
    """Close the socket with code and reason, after_ms after the trigger."""

    trigger: Trigger
    after_ms: Milliseconds = 0
    code: CloseCode = 1000
    reason: CloseReason = ""
    # False: the rule models a conditional behaviour of the service and may never fire.
    expected: bool = True


@dataclass(frozen=True)
class Duplicate:
    """Send every server event of this type (for items: of this role) twice."""

    event: ServerEvent
    role: Role | None = None


@dataclass(frozen=True)
class Reorder:
    """Hold back the next server event of type `event` (for items: of this role; a response.done: of the response
    whose output item has this role, e.g. function_call) until the next `after` event (of after_role) was sent."""

    event: ServerEvent
    after: ServerEvent
    role: Role | None = None
    after_role: Role | None = None


@dataclass(frozen=True)
class InjectError:
    """Send an `error` event with this code after_ms after the trigger."""

    trigger: Trigger
    code: str
    after_ms: Milliseconds = 0
    type: str = "invalid_request_error"
    message: str = "injected by the scenario"
    expected: bool = True


@dataclass(frozen=True)
class Turn:
    """What the service answers to one response.create: text (the default) or a function call."""

    kind: TurnKind = "text"            # text | function_call
    name: str = ""
    arguments: str = "{}"
    text: str | None = None            # None: the scenario's reply_text
    # Audio deltas of this reply (None: the scenario's reply_audio_chunks), so that one session can mix audio and
    # text replies, as a real one does (a reply's modality is the response's, not the session's).
    audio_chunks: Count | None = None


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    description: str = "behaves like the real service, including the 2.7 s close"
    # Latency of the service's confirmation of a client item (item.added, item.done).
    confirm_latency_ms: Milliseconds = 40
    # Latency from an accepted response.create to the response's first output (response.output_item.added and
    # what follows); response.created itself comes at once, and the response is active from then on.
    reply_latency_ms: Milliseconds = 30
    # Gap between consecutive reply deltas.
    delta_interval_ms: Milliseconds = 5
    # {user_text} is replaced by the text of the latest user item.
    reply_text: str = "Mock reply to: {user_text}"
    # Deltas per content part.
    reply_chunks: PositiveCount = 3
    # Content parts of each assistant message item: the reply text (or an audio reply's transcript, and its
    # audio deltas) is split across them, each streamed with its own content_part.added ... content_part.done.
    reply_parts: PositiveCount = 1
    # False: response.create is accepted but never answered.
    replies: bool = True
    # Audio deltas (PCM16 24 kHz, audio_chunk_ms each) in every text reply; 0: text only.
    reply_audio_chunks: Count = 0
    audio_chunk_ms: PositiveMilliseconds = 20
    # Replies in order, one per answered response.create; past the end: text replies.
    script: tuple[Turn, ...] = ()
    # How the service hears speech while the session's turn detection is on (whether it is on, and whether it
    # answers, is the session's: session.update's audio.input.turn_detection; on by default, as in the service).
    # Scripted: after this many ms of appended audio the service detects an utterance (speech_started at the
    # first append; then speech_stopped, committed, the user item, its transcription and, with create_response,
    # a reply). 0: by energy (below).
    vad_utterance_ms: Milliseconds = 0
    # By energy, as the real service hears speech: speech starts at the first 20 ms window of appended audio
    # whose RMS is above vad_threshold and stops after vad_silence_ms of windows at or below it. A service that
    # never hears the end of speech: a silence longer than the test's audio.
    vad_silence_ms: PositiveMilliseconds = 500
    vad_threshold: Count = 300
    transcript: str = "transcribed speech"
    # Server event types the client has never seen (the service adds types over time): one event of each is
    # sent in every response, right after response.created. They must not be types the Realtime API has.
    unknown_events: UnknownEvents = dataclasses.field(default_factory=list)
    # How the service answers the WebSocket handshake: accept, reject (HTTP 503), stall (never answers).
    handshake: Handshake = "accept"
    delays: tuple[Delay, ...] = ()
    drops: tuple[Drop, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    reorders: tuple[Reorder, ...] = ()
    errors: tuple[InjectError, ...] = ()
    closes: tuple[Close, ...] = (
        Close(trigger="premature_response_create", after_ms=2700, code=1000, expected=False),
    )
    # Verdicts this scenario forces whatever the proxy does (it makes the upstream itself misbehave), by
    # requirement id, e.g. {"CANARY-1": "fail"}: reported as expected by the scenario, never as the proxy's; a test
    # of that id that ends otherwise (a pass) is a scenario error. The ids are checked against the catalogue when
    # a run loads the scenario.
    expect: Expectations = dataclasses.field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> "Scenario":
        """A copy with top-level fields replaced; rule lists given as dicts are converted."""
        return _build(dataclasses.asdict(self) | overrides, f"scenario {self.name!r} overrides")


_TOML_KEYS = {"delay": "delays", "drop": "drops", "close": "closes", "duplicate": "duplicates",
              "reorder": "reorders", "error": "errors", "turn": "script"}
# What a value of a plain type is called in a message.
_NOUNS = {int: "an integer", str: "a string", bool: "true or false"}


def _build(data: dict[str, Any], where: str, spelling: dict[str, str] | None = None) -> Scenario:
    """A Scenario from plain data, every value checked. where: the source, for messages; spelling: how the source
    names a field (a TOML file writes [[delay]] for delays)."""
    return _rule(Scenario, data, where, "", spelling)


def _rule(cls: type, value: Any, where: str, path: str, spelling: dict[str, str] | None = None) -> Any:
    """An instance of cls (the Scenario, or one rule at `path` in it, e.g. 'delay[2]') from a table, or from an
    instance, checked all the same; a ScenarioError names where, the key and the value."""
    if isinstance(value, cls):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(cls)}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {path} must be a table, got {_shown(value)}")
    at = f"{where}: {path}: " if path else f"{where}: "
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ScenarioError(f"{at}unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    missing = [name for name, f in fields.items() if name not in value
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ScenarioError(f"{at}missing key {missing[0]!r}")
    hints, spelling = _hints(cls), spelling or {}
    return cls(**{name: _value(hints[name], item, where, f"{path}.{name}" if path else spelling.get(name, name))
                  for name, item in value.items()})


def _value(hint: Any, value: Any, where: str, key: str) -> Any:
    """value, checked against its field's resolved annotation; a rule list (tuple[Rule, ...]) becomes a tuple."""
    if get_origin(hint) is tuple and dataclasses.is_dataclass(get_args(hint)[0]):
        if not isinstance(value, (list, tuple)):
            raise ScenarioError(f"{where}: {key} must be a list of tables, got {_shown(value)}")
        return tuple(_rule(get_args(hint)[0], rule, where, f"{key}[{index}]") for index, rule in enumerate(value))
    problem = _violation(hint, value)
    if problem:
        raise ScenarioError(f"{where}: {key} must be {problem}, got {_shown(value)}")
    return value


def _violation(hint: Any, value: Any) -> str | None:
    """What a value of this annotation must be, when value is not one; else None."""
    if get_origin(hint) in (Union, types.UnionType):   # only optional values occur: X | None
        if value is None:
            return None
        (hint,) = [arg for arg in get_args(hint) if arg is not type(None)]
    base, checks = (get_args(hint)[0], get_args(hint)[1:]) if get_origin(hint) is Annotated else (hint, ())
    if not isinstance(value, base) or (isinstance(value, bool) and base is not bool):
        return next((check.noun for check in checks if check.noun), _NOUNS.get(base, f"a {base.__name__}"))
    return next((check.requirement for check in checks if not check.holds(value)), None)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass's fields, Annotated checks included."""
    return get_type_hints(cls, include_extras=True)


def _shown(value: Any) -> str:
    """A value as a message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def from_toml(path: Path) -> Scenario:
    """Load one scenario file: top-level fields plus [[delay]], [[drop]], [[close]] tables."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    data.setdefault("name", path.stem)
    spelling = {}
    for toml_key, field_name in _TOML_KEYS.items():
        if toml_key in data:
            data[field_name] = data.pop(toml_key)
            spelling[field_name] = toml_key
    return _build(data, str(path), spelling)


def from_dict(data: dict[str, Any], where: str) -> Scenario:
    """A scenario from plain data (a cassette's header keeps the one its test ran under), checked like a file."""
    data = dict(data)
    if data.get("vad_silence_ms") == 0:
        # Written before turn detection became the session's: 0 was the old default ("no energy VAD"); the
        # service such a cassette recorded had server VAD on, which today's default models.
        del data["vad_silence_ms"]
    return _build(data, where)


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
