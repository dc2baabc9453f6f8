"""What `harness explore` generates and judges, with no I/O: the client's session script, the upstream's timing
(a mock scenario), the Hypothesis strategies that draw both, which judges a session gets (the invariants, and ORD-7,
TURN-1 and FN-1 by the suites' own judges in judging/), and the reproducer's files.

A session is a client script crossed with a scenario. The script says what the headless client sends and when
("250 ms after the previous step", "when the first reply delta leaves the upstream", "right after the previous
message"); the scenario says how late the mock upstream confirms, replies and streams. Delays stay small (tens to
a few hundred ms) so that a session takes well under a second.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from voice_harness.mock_upstream import vad
from voice_harness.mock_upstream.scenario import _TOML_KEYS, Delay, Reorder, Scenario, Turn

from voice_harness.judging import invariants, queued_turns, turns
from voice_harness.drivers import wire_client
from voice_harness.judging.invariants import Violation
from voice_harness.judging.timeline import Timeline

# ------------------------------------------------------------------------------------------- the script

# Moments a step can wait for, after the previous step was sent (the first step: after Settings was sent, or
# after SettingsApplied arrived). The wait is bounded: a moment that never comes sends the step anyway.
MOMENTS = ("previous",          # only the step's own ms
           "reply_delta",       # the upstream sent a reply delta (text, transcript or audio)
           "response_created",  # the upstream sent response.created
           "assistant_text")    # an assistant ConversationText reached the client
STEP_KINDS = ("inject", "speech", "audio", "keepalive")
FUNCTION_NAMES = ("get_weather", "lookup_order")
GREETING = "Hello, I am the test agent."
MAX_INJECTS = 4
MAX_SPOKEN = 2
MAX_OTHERS = 2
# A spoken turn is one binary frame: speech_ms of a tone loud enough for the service's energy VAD, then this much
# silence, longer than the service's end-of-speech silence (the mock's vad_silence_ms, 500 by default), so that the
# service commits the utterance and answers it (its server VAD, on by default). One frame: the service hears the
# whole utterance at once, so no response can start between its speech_started and its commit.
SPEECH_SILENCE_MS = 600
SPEECH_RATE = 24000             # PCM16 mono, as Settings declares (wire_client.SETTINGS)
SPEECH_HZ = 440
SPEECH_AMPLITUDE = 3000         # RMS about 2100: far above the VAD threshold (vad.THRESHOLD)


class ModelError(ValueError):
    """A script file is malformed; the message names the field."""


@dataclass(frozen=True)
class When:
    after: str = "previous"
    ms: int = 0

    def describe(self) -> str:
        if self.after == "previous":
            return f"{self.ms} ms after the previous step" if self.ms else "right after the previous step"
        moment = {"reply_delta": "a reply delta left the upstream", "response_created": "response.created",
                  "assistant_text": "an assistant ConversationText reached the client"}[self.after]
        return f"when {moment}" + (f", +{self.ms} ms" if self.ms else "")


@dataclass(frozen=True)
class Step:
    kind: str                 # inject | speech | audio | keepalive
    when: When = When()
    text: str = ""            # inject: the message
    chunks: int = 1           # audio: binary frames of chunk_bytes of silence (PCM16 24 kHz: 48 bytes per ms)
    chunk_bytes: int = 480
    speech_ms: int = 200      # speech: how long the utterance speaks (then SPEECH_SILENCE_MS of silence)

    def describe(self) -> str:
        what = {"inject": f"InjectUserMessage {self.text!r}", "keepalive": "KeepAlive",
                "speech": f"a spoken turn ({self.speech_ms} ms of speech, {SPEECH_SILENCE_MS} ms of silence)",
                "audio": f"{self.chunks} silent audio chunk(s) of {self.chunk_bytes} bytes"}[self.kind]
        return f"{what}, {self.when.describe()}"


def speech_pcm(speech_ms: int) -> bytes:
    """A spoken turn's audio (one binary frame): a tone the service's energy VAD hears as speech, then
    SPEECH_SILENCE_MS of silence that ends the utterance."""
    count = SPEECH_RATE * speech_ms // 1000
    tone = struct.pack(f"<{count}h", *(round(SPEECH_AMPLITUDE * math.sin(2 * math.pi * SPEECH_HZ * i / SPEECH_RATE))
                                       for i in range(count)))
    return tone + silence_pcm(SPEECH_RATE * SPEECH_SILENCE_MS // 1000 * 2)


def silence_pcm(size: int) -> bytes:
    """Audio the service hears as silence (an audio step: binary frames that start no utterance)."""
    return bytes(size)



@dataclass(frozen=True)
class Script:
    steps: tuple[Step, ...]
    greeting: str | None = None
    context: tuple[tuple[str, str], ...] = ()    # (role, content) of Settings.agent.context.messages
    functions: tuple[str, ...] = ()
    early: bool = False                          # the first step does not wait for SettingsApplied
    function_reply_ms: int = 0                   # FunctionCallResponse this long after each FunctionCallRequest

    def settings(self) -> dict:
        """The Settings message the client sends first."""
        agent: dict[str, Any] = {}
        if self.greeting:
            agent["greeting"] = self.greeting
        if self.context:
            agent["context"] = {"messages": [{"role": r, "content": c} for r, c in self.context]}
        if self.functions:
            agent["think"] = {"functions": [{"name": n, "description": f"test function {n}",
                                             "parameters": {"type": "object", "properties": {}}}
                                            for n in self.functions]}
        return wire_client.settings(**agent)

    @property
    def injects(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "inject"]

    def describe(self) -> list[str]:
        """One line for Settings (what it holds, and when the steps start), then one per step."""
        parts = ["Settings"] + (["greeting"] if self.greeting else []) + \
            ([f"{len(self.context)} context message(s)"] if self.context else []) + \
            ([f"functions {', '.join(self.functions)}"] if self.functions else [])
        start = "without waiting for SettingsApplied" if self.early else "at SettingsApplied"
        return [f"{', '.join(parts)}; steps start {start}"] + [s.describe() for s in self.steps]

    def to_json(self) -> dict:
        return {"greeting": self.greeting, "context": [{"role": r, "content": c} for r, c in self.context],
                "functions": list(self.functions), "early": self.early,
                "function_reply_ms": self.function_reply_ms,
                "steps": [{"kind": s.kind, "when": {"after": s.when.after, "ms": s.when.ms},
                           **({"text": s.text} if s.kind == "inject" else {}),
                           **({"speech_ms": s.speech_ms} if s.kind == "speech" else {}),
                           **({"chunks": s.chunks, "chunk_bytes": s.chunk_bytes} if s.kind == "audio" else {})}
                          for s in self.steps]}


def script_from_json(data: Any) -> Script:
    """The script of a script.json; ModelError names what is wrong."""
    if not isinstance(data, dict):
        raise ModelError("the script must be a JSON object")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ModelError("steps must be a non-empty list")
    parsed = []
    for index, raw in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(raw, dict) or raw.get("kind") not in STEP_KINDS:
            raise ModelError(f"{where}.kind must be one of {', '.join(STEP_KINDS)}")
        when = raw.get("when", {})
        if not isinstance(when, dict) or when.get("after", "previous") not in MOMENTS \
                or not _nonneg_int(when.get("ms", 0)):
            raise ModelError(f"{where}.when must be {{after: one of {', '.join(MOMENTS)}, ms: a number >= 0}}")
        chunks, chunk_bytes = raw.get("chunks", 1), raw.get("chunk_bytes", 480)
        if raw["kind"] == "audio" and not (_nonneg_int(chunks) and _nonneg_int(chunk_bytes) and chunk_bytes % 2 == 0):
            raise ModelError(f"{where}: chunks and chunk_bytes (even) must be numbers >= 0")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise ModelError(f"{where}.text must be a string")
        speech_ms = raw.get("speech_ms", Step.speech_ms)
        if raw["kind"] == "speech" and not (_nonneg_int(speech_ms) and speech_ms >= vad.WINDOW_MS):
            raise ModelError(f"{where}.speech_ms must be a number >= {vad.WINDOW_MS}")
        parsed.append(Step(raw["kind"], When(when.get("after", "previous"), when.get("ms", 0)), text,
                           chunks, chunk_bytes, speech_ms))
    context = data.get("context", [])
    if not isinstance(context, list) or not all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
            for m in context):
        raise ModelError("context must be a list of {role: user|assistant, content: string}")
    functions = data.get("functions", [])
    if not isinstance(functions, list) or not all(isinstance(f, str) and f for f in functions):
        raise ModelError("functions must be a list of names")
    greeting = data.get("greeting")
    if greeting is not None and not isinstance(greeting, str):
        raise ModelError("greeting must be a string or null")
    early, reply_ms = data.get("early", False), data.get("function_reply_ms", 0)
    if not isinstance(early, bool) or not _nonneg_int(reply_ms):
        raise ModelError("early must be true or false and function_reply_ms a number >= 0")
    return Script(tuple(parsed), greeting, tuple((m["role"], m["content"]) for m in context), tuple(functions),
                  early, reply_ms)


def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Session:
    """One generated session: what the client does, and how the upstream times its answers."""

    script: Script
    scenario: Scenario

    def describe(self) -> str:
        return "; ".join(self.script.describe()) + " | upstream: " + describe_scenario(self.scenario)


def describe_scenario(scenario: Scenario) -> str:
    changed = scenario_changes(scenario)
    changed.pop("name", None)
    changed.pop("description", None)
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


# ------------------------------------------------------------------------------------------ strategies

SCENARIO_NAME = "explore"
# The real service never confirms an item at once; a confirmation with no latency at all would make a shrunk
# session a race of microseconds that no replay shows again.
MIN_CONFIRM_MS = 20
AUDIO_CHUNK_MS = 10
SCENARIO_DESCRIPTION = "upstream timing generated by harness explore"


@st.composite
def whens(draw) -> When:
    # "previous" first: a shrunk step is sent a fixed time after the step before it.
    after = draw(st.sampled_from(MOMENTS))
    ms = draw(st.integers(0, 250) if after == "previous" else st.integers(0, 100))
    return When(after, ms)


@st.composite
def drawn_steps(draw) -> Step:
    # Mostly typed messages; spoken turns as often as the other steps together.
    kind = draw(st.sampled_from(("inject", "inject", "inject", "speech", "speech", "audio", "keepalive")))
    when = draw(whens())
    if kind == "audio":
        return Step("audio", when, chunks=draw(st.integers(1, 3)), chunk_bytes=draw(st.sampled_from((480, 960, 4800))))
    if kind == "speech":
        return Step("speech", when, speech_ms=draw(st.sampled_from((200, 100, 400))))
    return Step(kind, when)


def _fit(drawn: list[Step]) -> tuple[Step, ...]:
    """One to four InjectUserMessage, numbered in order, at most two spoken turns and at most two other steps; a
    step before the first user turn (typed or spoken) waits only for its time (a moment of the reply cannot come
    before a turn was taken)."""
    steps, injects, spoken, others = [], 0, 0, 0
    for step in drawn:
        if step.kind == "inject" and injects < MAX_INJECTS:
            injects += 1
            step = dataclasses.replace(step, text=f"user message {injects}")
        elif step.kind == "speech" and spoken < MAX_SPOKEN:
            spoken += 1
        elif step.kind not in ("inject", "speech") and others < MAX_OTHERS:
            others += 1
        else:
            continue
        turned = any(s.kind in ("inject", "speech") for s in steps)
        steps.append(step if turned else dataclasses.replace(step, when=When("previous", step.when.ms)))
    if not injects:
        steps.append(Step("inject", When(), text="user message 1"))
    first = next(i for i, s in enumerate(steps) if s.kind in ("inject", "speech"))
    steps[first] = dataclasses.replace(steps[first], when=When("previous", steps[first].when.ms))
    return tuple(steps)


def steps() -> st.SearchStrategy[tuple[Step, ...]]:
    """Each step drawn whole, so that the shrinker can delete one without shifting the others' draws."""
    return st.lists(drawn_steps(), min_size=1, max_size=7).map(_fit)


@st.composite
def scripts(draw) -> Script:
    greeting = draw(st.sampled_from((None, GREETING)))
    roles = draw(st.lists(st.sampled_from(("user", "assistant")), max_size=3))
    context = tuple((role, f"earlier {role} turn {i + 1}") for i, role in enumerate(roles))
    functions = tuple(draw(st.lists(st.sampled_from(FUNCTION_NAMES), max_size=2, unique=True)))
    return Script(draw(steps()), greeting, context, functions, early=draw(st.booleans()),
                  function_reply_ms=draw(st.integers(0, 200)))


DELAYABLE = (("conversation.item.added", "user"), ("conversation.item.done", "user"),
             ("conversation.item.added", None), ("conversation.item.added", "assistant"),
             ("conversation.item.done", "assistant"), ("session.updated", None), ("response.created", None),
             ("response.output_item.added", None), ("response.done", None))


# Event types the Realtime API does not have: the service adds types over time (ERR-4: a proxy must not answer them
# with an Error).
UNKNOWN_EVENTS = ("response.future_feature", "conversation.new_kind")
# The other order of a function call's response.done and the host's FunctionCallResponse: the service holds back
# the response.done of the response that made the call until it confirmed the function output item, so the host's
# answer comes while that response is active (as suites/test_function_calls.py does). Without it the response.done
# comes right after the call, before any answer the host can give.
CALL_DONE_AFTER_OUTPUT = Reorder("response.done", "conversation.item.added", "function_call", "function_call_output")


# Delays a session with spoken turns does not draw. The service sends its own response's response.created right
# after the commit it answers (server VAD with create_response): held back, the proxy could not know that response
# is active and a typed turn's response.create would collide with it through no fault of the proxy's. And it sends
# the response.done of a response an utterance interrupted before the response it starts for that utterance: held
# back, the old response's response.done would come after the new one's response.created, an order the service
# never produces.
NOT_WITH_SPEECH = (("response.created", None), ("response.done", None))


@st.composite
def scenarios(draw, functions: tuple[str, ...] = (), spoken: bool = False) -> Scenario:
    """Upstream timing: confirmation and reply latencies, streaming, audio replies, per-event (and per-role) delays,
    unknown event types, and function-call turns when the client declared functions (the call's response.done
    before or after the host's FunctionCallResponse; after it only without spoken turns). spoken: the script has
    spoken turns."""
    delayable = [d for d in DELAYABLE if not spoken or d not in NOT_WITH_SPEECH]
    delays = draw(st.lists(st.tuples(st.sampled_from(delayable), st.integers(0, 300)), max_size=3,
                           unique_by=lambda d: d[0]))
    turns: tuple[Turn, ...] = ()
    reorders: tuple[Reorder, ...] = ()
    if functions:
        turns = tuple(draw(st.lists(st.one_of(st.just(Turn()), st.sampled_from(functions).map(
            lambda name: Turn("function_call", name=name, arguments="{}"))), max_size=2)))
        while turns and turns[-1].kind == "text":       # a trailing text turn is the default anyway
            turns = turns[:-1]
        # Not with spoken turns: the mock counts a response whose response.done it holds back as done, so an
        # utterance would neither interrupt it nor wait for it, and its own response would overlap it on the wire.
        if turns and not spoken and draw(st.booleans()):
            reorders = (CALL_DONE_AFTER_OUTPUT,)
    audio = draw(st.integers(0, 2))
    unknown = draw(st.lists(st.sampled_from(UNKNOWN_EVENTS), max_size=len(UNKNOWN_EVENTS), unique=True))
    return Scenario().with_overrides(
        name=SCENARIO_NAME, description=SCENARIO_DESCRIPTION,
        confirm_latency_ms=draw(st.integers(MIN_CONFIRM_MS, 150)), reply_latency_ms=draw(st.integers(0, 200)),
        reply_chunks=draw(st.integers(1, 6)), delta_interval_ms=draw(st.integers(0, 40)),
        reply_parts=draw(st.integers(1, 2)), reply_audio_chunks=audio,
        audio_chunk_ms=AUDIO_CHUNK_MS if audio else Scenario.audio_chunk_ms,
        delays=tuple(Delay(event, ms, role) for (event, role), ms in delays), script=turns, reorders=reorders,
        unknown_events=unknown)


@st.composite
def sessions(draw) -> Session:
    script = draw(scripts())
    spoken = any(step.kind == "speech" for step in script.steps)
    return Session(script, draw(scenarios(script.functions, spoken)))


# ----------------------------------------------------------------------------------------------- judges

# Reply deltas a script step can wait for (the "reply_delta" moment).
DELTAS = ("response.output_text.delta", "response.output_audio_transcript.delta", "response.output_audio.delta")

# Every id a generated session can provoke beyond the invariants, each judged by the one judge the suites use (in
# judging/), never a copy: ORD-7 by queued_turns.py, TURN-1 and FN-1 by turns.py.
JUDGES = {"ORD-7": queued_turns.ord_7, "TURN-1": turns.turn_1, "FN-1": turns.fn_1}


def judge(timeline: Timeline) -> list[Violation]:
    """Every violation of the session: the invariants, then the other ids a generated session can provoke. A
    session's recording is live or cut short (the runner's watcher, its cap): it covers up to its last frame, and a
    judge counts a missing answer only where the recording covers its horizon."""
    found = invariants.check(timeline)
    until = queued_turns.recorded_until(timeline)
    for check in JUDGES.values():
        violation = check(timeline, until)
        if violation is not None:
            found.append(violation)
    return found


# ------------------------------------------------------------------------------------------ reproducers

def scenario_changes(scenario: Scenario) -> dict[str, Any]:
    """The scenario's fields that differ from the defaults, as plain data."""
    defaults = Scenario()
    changed = {}
    for f in dataclasses.fields(Scenario):
        value = getattr(scenario, f.name)
        if value != getattr(defaults, f.name):
            changed[f.name] = ([{k: v for k, v in dataclasses.asdict(rule).items() if v is not None}
                                for rule in value] if isinstance(value, tuple) else value)
    return changed


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)   # a JSON string is a TOML basic string
    if isinstance(value, list):    # a list of plain values (unknown_events)
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def scenario_toml(scenario: Scenario) -> str:
    """The scenario as a TOML file that mock_upstream.scenario.from_toml loads back to an equal scenario."""
    table_of = {field: key for key, field in _TOML_KEYS.items()}
    changed = scenario_changes(scenario)
    # Keys of the top-level table first (an emptied rule list too), then the rule tables.
    lines = [f"{k} = {_toml_value(v)}" for k, v in changed.items() if k not in table_of or not v]
    for field, rules in changed.items():
        for rule in rules if field in table_of else ():
            lines += ["", f"[[{table_of[field]}]]"] + [f"{k} = {_toml_value(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"

