"""ORD-7: a user message sent while a response is active is answered after that response is done (its
response.create is sent then, and its reply reaches the client: no lost turn). The one judge of ORD-7, used by the
suite (suites/test_ordering.py) and by `voice-harness explore`.

Pure functions, no waiting. `queued` returns one fact per message the client sent while a response was active, each
with a verdict (`ok` True, False, or None while the recording does not tell yet or the situation is another id's)
and a reason; `ord_7` is the first broken one as a Violation. The requirement names no time bound (a turn is lost,
not late): the recording must cover turns.lost_after_s() (the catalogue's app idle close) past the moment the proxy
could ask for the answer before a missing response.create counts as a lost turn. What the text asks, no more:
- The moment: once the active response is done and the message's user item confirmed (ORD-1 has the proxy wait for
  it), and every later message's sent before then (the proxy may answer them with the same response); while
  another response is active (the service's own, answering a spoken turn) the proxy may not ask (ORD-4): the
  moment moves to its end.
- The answer: the first response.create after the active response's response.done; a response the service
  started by itself after the message's item was confirmed (server VAD answering a spoken turn) has the message in
  its conversation and answers it too. A response.create that comes only after the horizon answers another
  message: this one's turn was lost.
- The reply: the output of a response started by that answer reaches the client (assistant ConversationText,
  FunctionCallRequest or audio, as TURN-1 counts it); judged once every such response was done turns.RELAY_S
  before the recording ends.
- One failure, one id: not judged after a premature response.create on the connection (the upstream then withholds
  every reply: ORD-1's), nor when the upstream rejected the answer's response.create (ORD-4's), nor when the only
  reply was cancelled (the user spoke over it: the service's interruption).
Each verdict depends only on frames up to its moment plus the horizon, so a violation on a prefix of a session is
one of the whole session (explore judges prefixes to cut a failing session short).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voice_harness.judging import invariants, turns
from voice_harness.judging.agent_signals import spoken
from voice_harness.judging.sessions import Response, Violation, at, frames_of, item_text, responses, \
    upstream_connections
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY, Frame,
                                            Timeline)

REQ = "ORD-7"


@dataclass
class Queued:
    """One message sent while a response was active, and what became of it. `ok`: True answered, False lost,
    None not judged (see `reason`)."""

    message: Frame                     # the InjectUserMessage (leg A)
    active: Response                   # the response active when it was sent
    due: float | None = None           # when the proxy could ask for the answer (the frames' clock)
    answer: Frame | None = None        # the response.create that answers it (None: see `served`)
    served: Response | None = None     # the service's own response that answers it
    reply: Frame | None = None         # the first output of the answer's response that reached the client
    ok: bool | None = None
    reason: str = ""
    anchors: tuple[Frame, ...] = ()


def queued(timeline: Timeline, until: float = math.inf) -> list[Queued]:
    """ORD-7's facts for each InjectUserMessage sent while a response was active on its connection. `until` (the
    frames' clock) is how far the recording is known to cover: a live or cut recording passes its last frame (or
    the time the caller stopped waiting); the default takes the recording as complete."""
    lost_after = turns.lost_after_s()
    found = []
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        resps = responses(frames)
        heard = spoken(frames)
        creates = [f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "response.create"]
        premature = next((c for c in creates if c.note.get("premature")), None)
        injects = [f for f in frames if f.route == CLIENT_TO_PROXY and f.type == "InjectUserMessage"]
        for message in injects:
            active = next((r for r in resps if r.active_at(message.t)), None)
            if active is None:
                continue    # not ORD-7's situation (a turn of its own: TURN-1's)
            one = Queued(message, active)
            found.append(one)
            _judge(timeline, frames, resps, heard, creates, injects, premature, one, until, lost_after)
    return found


def ord_7(timeline: Timeline, until: float = math.inf) -> Violation | None:
    """The first message sent during a response that was never answered, as a Violation; None when none was."""
    lost = next((one for one in queued(timeline, until) if one.ok is False), None)
    return Violation(REQ, lost.reason, lost.anchors) if lost is not None else None


def recorded_until(timeline: Timeline) -> float:
    """How far a recording without a caller's wait covers: its last frame."""
    return max((f.t for f in timeline.frames), default=-math.inf)


def _judge(timeline: Timeline, frames: list[Frame], resps: list[Response], heard, creates: list[Frame],
           injects: list[Frame], premature: Frame | None, one: Queued, end: float, lost_after: float) -> None:
    message, active = one.message, one.active
    sent = f"the InjectUserMessage at {timeline.offset(message):.3f} s"
    one.anchors = (message, active.created)
    if premature is not None:
        one.reason = (f"{sent}: not judged, the proxy sent a premature response.create ({at(timeline, premature)}), "
                      f"after which the upstream withholds every reply (ORD-1's)")
        return
    if active.done is None:
        one.reason = f"{sent} was sent during response {active.id}, which has not finished"
        return
    due = _due(frames, injects, message, active.done.t)
    due = _free_from(resps, due) if due is not None else None
    if due is None:
        one.reason = f"{sent}: the proxy must still wait (its user item, or a response active meanwhile)"
        return
    one.due = due
    horizon = due + lost_after
    confirmed = _confirmed_at(frames, message)
    answer = next((c for c in creates if c.t > active.done.t), None)
    served = next((r for r in resps if r.created.t > max(active.done.t, confirmed)), None)
    if served is not None and served.created.t <= horizon and (answer is None or served.created.t < answer.t):
        one.served, answer = served, None
    elif answer is None or answer.t > horizon:
        if end < horizon:
            one.reason = f"{sent}: no response.create yet; the recording ends before {lost_after:g} s past its moment"
            return
        one.ok = False
        one.reason = (f"{sent} was sent while response {active.id} was active; that response was done at "
                      f"{timeline.offset(active.done):.3f} s and no response.create followed within {lost_after:g} s "
                      f"of the moment the proxy could send it ({due - timeline.origin:.3f} s): the turn was lost")
        one.anchors = (message, active.created, active.done) + ((answer,) if answer else ())
        return
    one.answer = answer
    if answer is not None and answer.note.get("rejected"):
        one.reason = f"{sent}: the upstream rejected its response.create ({at(timeline, answer)}): ORD-4's"
        return
    start = served.created.t if served is not None else answer.t
    replies = [r for r in resps if r.created.t >= start]
    for r in replies:
        output = next((s.audio + s.output for s in heard if s.response.created is r.created), [])
        if output:
            one.reply = min(output, key=lambda f: f.t)
            one.ok = True
            one.reason = f"{sent} was answered by response {r.id}: {at(timeline, one.reply)}"
            return
    asked = at(timeline, answer) if answer is not None else f"the service's own {at(timeline, served.created)}"
    if not replies or any(r.done is None or end < r.done.t + turns.RELAY_S for r in replies):
        one.reason = f"{sent}: answered by {asked}; its reply may still be on its way"
        return
    if all(turns.status(r) == "cancelled" for r in replies):
        one.reason = f"{sent}: its reply was cancelled (the user spoke over it)"
        return
    one.ok = False
    one.reason = (f"the reply to {sent} (response {replies[0].id}, done at {timeline.offset(replies[0].done):.3f} s, "
                  f"after {asked}) never reached the client")
    one.anchors = (message, replies[0].created, replies[0].done)


def _confirmed_at(frames: list[Frame], message: Frame) -> float | None:
    """When the upstream confirmed the user item the proxy made of this InjectUserMessage: the message's own time
    when the item was never made or has no id to follow (nothing to wait for), None while it is unconfirmed."""
    text = message.message.get("content") if message.message else None
    item = next((f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "conversation.item.create"
                 and f.role == "user" and f.t >= message.t and item_text(f) == text), None)
    if item is None or item.item_id is None:
        return message.t if item is None else item.t
    return next((f.t for f in frames if f.route == UPSTREAM_TO_PROXY and f.type in invariants.CONFIRMATIONS
                 and f.item_id == item.item_id), None)


def _due(frames: list[Frame], injects: list[Frame], message: Frame, done: float) -> float | None:
    """When the proxy can send the response.create for a message sent during a response done at `done`: once that
    response is done and the message's user item confirmed, and also every later message's that it may answer with
    the same response (sent before then); None while one of them is unconfirmed."""
    due = done
    for other in injects:
        if other.t < message.t:
            continue
        if other is not message and other.t > due:
            break
        confirmed = _confirmed_at(frames, other)
        if confirmed is None:
            return None
        due = max(due, confirmed)
    return due


def _free_from(resps: list[Response], t: float) -> float | None:
    """The first moment from t when no response is active (the proxy may not ask for one before: ORD-4), e.g. once
    a response the service started by itself for a spoken turn is done; None when one never ends."""
    while True:
        busy = next((r for r in resps if r.created.t <= t and (r.done is None or r.done.t > t)), None)
        if busy is None:
            return t
        if busy.done is None:
            return None
        t = busy.done.t
