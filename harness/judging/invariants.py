"""The invariants: requirements that must hold in every recorded session, whatever the test is for.

Pure functions of a timeline (no waiting, no I/O). `check` runs each invariant id of the catalogue
(`invariant = true` in requirements.toml) over the frames of each connection and returns the violations; the
plugin reports them under their own id, naming the test whose session exposed them, and `harness explore`
judges its generated sessions with the same function. Each check judges only what the proxy did, and each
defect has one id: a binary frame sent upstream is WIRE-2's (not WIRE-3's), a client message forwarded
upstream is CLI-1's or CLI-2's (not WIRE-3's or READY-3's), in a text frame or a binary one: the timeline reads
the JSON in a binary frame upstream as that message (timeline.BinaryMessage), which READY-3 and WIRE-3 judge as
any event, and WIRE-2's own check names the binary frame besides.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Iterable

from voice_harness.judging import agent_signals, catalogue, errors, turn_detection
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, Frame, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, Timeline,
                                            UPSTREAM_LEG, UPSTREAM_TO_PROXY, is_event)
from voice_harness.judging.sessions import (Response, Violation, at as _at, connections, injected_texts,  # noqa: F401
                                            item_text, responses)
from voice_harness.wire.validation import client_event_problems

CONFIRMATIONS = ("conversation.item.added", "conversation.item.done", "conversation.item.created")
ALREADY_ACTIVE = "conversation_already_has_active_response"


def check(timeline: Timeline, ids: Iterable[str] | None = None) -> list[Violation]:
    """Every violation of the invariant ids (default: the catalogue's) in this timeline, first one per id. One
    frame is one defect: a response.create that broke a more specific rule (ORD-1: released by another item's
    confirmation; ORD-3: sent before a function output's completion; AUD-1: asked for a spoken turn that server
    VAD answers) and also ran into an active response is not counted again under ORD-4."""
    wanted = set(catalogue.invariants() if ids is None else ids)
    found = []
    for rid in (r for r in CHECKS if r in wanted):
        violation = ord_4(timeline, excused=counted_elsewhere(timeline)) if rid == "ORD-4" else CHECKS[rid](timeline)
        if violation is not None:
            found.append(violation)
    return found


# ------------------------------------------------------------------------------------------------- ORD-1

def ord_1(timeline: Timeline) -> Violation | None:
    """No response.create while a user item made from InjectUserMessage is unconfirmed on its connection."""
    found = _ord_1_violations(timeline)
    return found[0] if found else None


def ord_1_offenders(timeline: Timeline) -> set[int]:
    """The ids (id()) of the response.create frames that broke ORD-1."""
    return {id(v.anchors[-1]) for v in _ord_1_violations(timeline)}


def _ord_1_violations(timeline: Timeline) -> list[Violation]:
    found = []
    texts = injected_texts(timeline)
    for frames in connections(timeline, UPSTREAM_LEG).values():
        unconfirmed: list[Frame] = []     # user item creates, oldest first
        last_confirmation: Frame | None = None
        for frame in frames:
            if frame.route == PROXY_TO_UPSTREAM and frame.type == "conversation.item.create" and frame.role == "user" \
                    and (texts is None or item_text(frame) in texts):
                unconfirmed.append(frame)
            elif frame.route == UPSTREAM_TO_PROXY and frame.type in CONFIRMATIONS:
                last_confirmation = frame
                mine = next((c for c in unconfirmed if c.item_id is not None and c.item_id == frame.item_id), None)
                if mine is None and frame.role == "user":
                    # The proxy gave no id: the service confirms items in the order they were created.
                    mine = next((c for c in unconfirmed if c.item_id is None), None)
                if mine is not None:
                    unconfirmed.remove(mine)
            elif frame.route == PROXY_TO_UPSTREAM and frame.type == "response.create" and unconfirmed:
                pending = unconfirmed[0]
                released = (f"; the last confirmation before it was {_at(timeline, last_confirmation)}, of "
                            f"another item" if last_confirmation is not None and last_confirmation.t > pending.t
                            else "")
                found.append(Violation(
                    "ORD-1", f"{_at(timeline, frame)} came before the upstream confirmed user item "
                             f"{pending.item_id or '(no id)'} sent at {timeline.offset(pending):.3f} s{released}",
                    (pending, last_confirmation, frame) if released else (pending, frame)))
    return found


def ord_3_offenders(timeline: Timeline) -> set[int]:
    """The ids (id()) of the response.create frames that broke ORD-3: the first one after a function_call_output
    item, with no completion (response.done, response.output_text.done, or that item's conversation.item.done)
    between them."""
    offenders = set()
    for frames in connections(timeline, UPSTREAM_LEG).values():
        output: Frame | None = None
        for frame in frames:
            if frame.route == PROXY_TO_UPSTREAM and frame.type == "conversation.item.create" \
                    and frame.role == "function_call_output":
                output = frame
            elif output is not None and frame.route == UPSTREAM_TO_PROXY and (
                    frame.type in ("response.done", "response.output_text.done")
                    or (frame.type == "conversation.item.done" and frame.item_id == output.item_id)):
                output = None
            elif output is not None and frame.route == PROXY_TO_UPSTREAM and frame.type == "response.create":
                offenders.add(id(frame))
                output = None
    return offenders


def counted_elsewhere(timeline: Timeline) -> set[int]:
    """The response.create frames already counted under ORD-1, ORD-3 or AUD-1 (one asking for the answer to a
    spoken turn that the service's server VAD answers itself)."""
    return ord_1_offenders(timeline) | ord_3_offenders(timeline) | turn_detection.offenders(timeline)


# ------------------------------------------------------------------------------------------------- ORD-4

def ord_4(timeline: Timeline, excused: set[int] = frozenset()) -> Violation | None:
    """Never a response.create while a response is active (response.created seen, its response.done not yet);
    a response.create the upstream rejected as one too many is the same defect, seen from the service. Frames
    in `excused` (id()) were already counted under another id."""
    for frames in connections(timeline, UPSTREAM_LEG).values():
        active: Frame | None = None
        for frame in frames:
            if frame.route == UPSTREAM_TO_PROXY and frame.type == "response.created":
                active = frame
            elif frame.route == UPSTREAM_TO_PROXY and frame.type == "response.done":
                active = None
            elif frame.route == PROXY_TO_UPSTREAM and frame.type == "response.create" and id(frame) not in excused:
                if frame.note.get("rejected") == ALREADY_ACTIVE:
                    return Violation("ORD-4", f"{_at(timeline, frame)} while a response was active: the upstream "
                                              f"rejected it ({ALREADY_ACTIVE})", (frame,))
                if active is not None:
                    return Violation("ORD-4", f"{_at(timeline, frame)} while response {active.response_id} "
                                              f"was still active", (active, frame))
    return None


# ----------------------------------------------------------------------------------------------- READY-3

def forwarded_types(timeline: Timeline) -> set[str]:
    """The types of the client's own messages: one of them upstream is a client message passed through
    (CLI-1's or CLI-2's defect), never counted again under READY-3 or WIRE-3."""
    return {f.type for f in timeline.select(route=CLIENT_TO_PROXY, kind="text") if f.type}


def ready_3(timeline: Timeline) -> Violation | None:
    """The first event the proxy sends on each upstream connection is session.update."""
    forwarded = forwarded_types(timeline)
    for frames in connections(timeline, UPSTREAM_LEG).values():
        first = next((f for f in frames if f.route == PROXY_TO_UPSTREAM and is_event(f) and f.type not in forwarded),
                     None)
        if first is not None and first.type != "session.update":
            return Violation("READY-3", f"the first event sent upstream is {_at(timeline, first)}", (first,))
    return None


# ------------------------------------------------------------------------------------------------ WIRE-1

def upstream_audio(timeline: Timeline) -> bytes:
    """The decoded audio of every response.output_audio.delta the upstream sent, in order."""
    chunks = []
    for frame in timeline.select(route=UPSTREAM_TO_PROXY, type="response.output_audio.delta"):
        try:
            chunks.append(base64.b64decode(frame.message.get("delta") or "", validate=True))
        except (binascii.Error, ValueError):
            continue
    return b"".join(chunks)


def is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def wire_1(timeline: Timeline) -> Violation | None:
    """Binary frames to the client carry only upstream audio; a JSON message never goes as a binary frame."""
    audio = None
    for frame in timeline.select(route=PROXY_TO_CLIENT, kind="binary"):
        if is_json_object(frame.data):
            return Violation("WIRE-1", f"a JSON message went to the client as a binary frame ({_at(timeline, frame)})"
                                       f": {frame.data[:80]!r}", (frame,))
        audio = upstream_audio(timeline) if audio is None else audio
        if frame.data not in audio:
            return Violation("WIRE-1", f"a binary frame to the client ({_at(timeline, frame)}, {frame.size} bytes) "
                                       f"is not audio the upstream sent", (frame,))
    return None


# ------------------------------------------------------------------------------------------------ WIRE-3

def wire_3(timeline: Timeline) -> Violation | None:
    """Every JSON event sent upstream validates as a Realtime client event: a text frame as the mock or the tap
    judged it; the JSON in a binary frame as it reads (the framing itself is WIRE-2's, not counted here)."""
    forwarded = forwarded_types(timeline)
    for frame in timeline.select(route=PROXY_TO_UPSTREAM):
        if not is_event(frame) or frame.type in forwarded:
            continue    # raw bytes: WIRE-2's; a client message passed through: CLI-1's or CLI-2's defect
        if frame.kind == "binary":
            problems = client_event_problems(frame.message)
        else:
            problems = frame.note.get("problems") or ([] if frame.data is not None else ["not JSON"])
        if problems:
            return Violation("WIRE-3", f"{_at(timeline, frame)} is not a valid Realtime client event: "
                                       f"{'; '.join(problems)}", (frame,))
    return None


# ------------------------------------------------------------------------------------------------- CLI-1

def cli_1(timeline: Timeline) -> Violation | None:
    """The client's KeepAlive never goes upstream, in a text frame or a binary one."""
    forwarded = timeline.first(route=PROXY_TO_UPSTREAM, type="KeepAlive")
    if forwarded is not None:
        how = " as a binary frame" if forwarded.kind == "binary" else ""
        return Violation("CLI-1", f"the client's KeepAlive went upstream{how} ({_at(timeline, forwarded)})",
                         (forwarded,))
    return None


# ------------------------------------------------------------------------------------------------ MAP-10

def map_10(timeline: Timeline) -> Violation | None:
    for frame in timeline.select(route=PROXY_TO_CLIENT, kind="text"):
        if frame.type and ("." in frame.type or frame.type == "error"):
            return Violation("MAP-10", f"a raw upstream event reached the client: {_at(timeline, frame)}", (frame,))
    return None


CHECKS: dict[str, Callable[[Timeline], Violation | None]] = {
    "ORD-1": ord_1, "ORD-4": ord_4, "READY-3": ready_3, "WIRE-1": wire_1, "WIRE-3": wire_3, "CLI-1": cli_1,
    "MAP-10": map_10,
    "ERR-4": errors.err_4,              # judging/errors.py
    "AGENT-1": agent_signals.agent_1,   # judging/agent_signals.py
}
