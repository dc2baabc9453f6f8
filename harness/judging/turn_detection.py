"""AUD-1: one owner of turn detection. The service's server VAD is on by default (create_response true) and a
`session.update` governs it (PROTOCOL.md section 3); with it on, the service commits spoken turns and answers them
itself, so a proxy that also commits, or also asks for the answer, collides with it ("buffer too small 0.00ms",
two responses for one turn).

Per upstream connection, the session's turn detection over time, as the proxy set it: initially on with
create_response; each proxy session.update holding `session.audio.input.turn_detection` sets it (null: off; an
object: on, with its create_response, true when missing); an update without the key leaves it. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_harness.judging.sessions import Violation, at, connections, injected_texts, item_text
from voice_harness.judging.timeline import PROXY_TO_UPSTREAM, UPSTREAM_LEG, UPSTREAM_TO_PROXY, Frame, Timeline

_MISSING = object()


@dataclass(frozen=True)
class TurnDetection:
    on: bool
    create_response: bool

    def __str__(self) -> str:
        return "server VAD off" if not self.on else \
            f"server VAD on (create_response {'true' if self.create_response else 'false'})"


SERVICE_DEFAULT = TurnDetection(True, True)


def set_by(frame: Frame, current: TurnDetection) -> TurnDetection:
    """The turn detection after this proxy event (unchanged unless it is a session.update with the key)."""
    if frame.route != PROXY_TO_UPSTREAM or frame.type != "session.update":
        return current
    session = (frame.message or {}).get("session")
    audio = session.get("audio") if isinstance(session, dict) else None
    given = audio.get("input") if isinstance(audio, dict) else None
    value = given.get("turn_detection", _MISSING) if isinstance(given, dict) else _MISSING
    if value is _MISSING:
        return current
    if value is None:
        return TurnDetection(False, False)
    create = value.get("create_response", True) if isinstance(value, dict) else True
    return TurnDetection(True, create is not False)


def _user_turn(frame: Frame, typed: set[str] | None) -> str | None:
    """'typed', 'function' or 'spoken' when this upstream frame makes a user turn: the proxy's user item made from
    an InjectUserMessage (any user item when leg A was not recorded: `typed` None) or its function_call_output
    item, or an audio commit the service confirmed (input_audio_buffer.committed)."""
    if frame.route == PROXY_TO_UPSTREAM and frame.type == "conversation.item.create":
        if frame.role == "user" and (typed is None or item_text(frame) in typed):
            return "typed"
        return "function" if frame.role == "function_call_output" else None
    if frame.route == UPSTREAM_TO_PROXY and frame.type == "input_audio_buffer.committed":
        return "spoken"
    return None


@dataclass(frozen=True)
class SecondOwner:
    """A proxy commit, or a proxy response.create for a spoken turn, while the service owned turn detection."""

    frame: Frame
    detection: TurnDetection
    set_at: Frame | None       # the session.update that set it, None for the service's default


def second_owner(timeline: Timeline) -> list[SecondOwner]:
    """Every AUD-1 offence, in time order per upstream connection: a proxy input_audio_buffer.commit while server
    VAD is on, and a proxy response.create while it is on with create_response, sent for a spoken turn (the
    latest user turn before it on that connection was audio the service committed)."""
    found = []
    typed = injected_texts(timeline)
    for frames in connections(timeline, UPSTREAM_LEG).values():
        detection, set_at, latest = SERVICE_DEFAULT, None, None
        for frame in frames:
            after = set_by(frame, detection)
            if after is not detection:
                detection, set_at = after, frame
                continue
            latest = _user_turn(frame, typed) or latest
            if frame.route != PROXY_TO_UPSTREAM or not detection.on:
                continue
            if frame.type == "input_audio_buffer.commit" or (
                    frame.type == "response.create" and detection.create_response and latest == "spoken"):
                found.append(SecondOwner(frame, detection, set_at))
    return found


def offenders(timeline: Timeline) -> set[int]:
    """The ids (id()) of the frames counted under AUD-1: not counted again under ORD-5 (commits) or ORD-4
    (response.create)."""
    return {id(o.frame) for o in second_owner(timeline)}


def aud_1(timeline: Timeline) -> Violation | None:
    found = second_owner(timeline)
    if not found:
        return None
    first = found[0]
    how = f"as {at(timeline, first.set_at)} left it" if first.set_at is not None else \
        "the service's default: the proxy never set turn_detection"
    what = ("it committed the input audio itself" if first.frame.type == "input_audio_buffer.commit"
            else "it asked for the answer to a spoken turn the service answers itself")
    return Violation("AUD-1", f"{at(timeline, first.frame)} while {first.detection} ({how}): {what}; a proxy that "
                              f"commits or responds for spoken turns turns server VAD off (turn_detection: null)",
                     tuple(f for f in (first.set_at, first.frame) if f is not None))
