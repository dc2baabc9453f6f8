"""TURN-1 (every user turn answered) and FN-1 (the function result's follow-up), as facts read from a timeline.

Pure functions, no waiting: each returns per-turn (per-call) facts with a verdict (`ok` True, False, or None while
the recording does not tell yet or the situation is another id's) and a reason that names the turn and what
happened to it, so a suite can say which turn was lost and why. The suite decides when to judge (it waits for its
own stimuli to have gone through) and what an undecided fact means for it. `turn_1` and `fn_1` give the first
broken fact as a Violation: `voice-harness explore` judges its sessions with exactly these (and ORD-7 with
queued_turns.py), on the recording so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from voice_harness.judging import catalogue, invariants
from voice_harness.judging.agent_signals import spoken
from voice_harness.judging.sessions import (Response, Violation, at, frames_of, item_text, responses,
                                            upstream_connections)
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY, Frame, Timeline

CONFIRMATIONS = ("conversation.item.added", "conversation.item.done", "conversation.item.created")


def _confirmation(frames: list[Frame], item: Frame, role: str) -> Frame | None:
    """The upstream's confirmation of an item the proxy made: by its id, or (an item without id) the next
    confirmation of an item of that role."""
    return next((f for f in frames if f.route == UPSTREAM_TO_PROXY and f.type in CONFIRMATIONS and f.t > item.t
                 and (f.item_id == item.item_id if item.item_id is not None else f.role == role)), None)


def _first_output(heard, response: Response) -> Frame | None:
    one = next((s for s in heard if s.response.created is response.created), None)
    outputs = (one.audio + one.output) if one is not None else []
    return min(outputs, key=lambda f: f.t) if outputs else None


def _when(timeline: Timeline, frame: Frame | None) -> str:
    return f"{timeline.offset(frame):.3f} s" if frame is not None else "never"


# ------------------------------------------------------------------------------------------------- TURN-1

def lost_after_s() -> float:
    """How long past the moment the proxy could answer a turn (TURN-1's, or ORD-7's message sent during a reply) the
    recording must cover before a turn with no response.create counts as lost. Neither requirement bounds the answer
    in time (a turn is lost, not late); the catalogue's apps close an idle connection after about 10 s (ORD-6's
    bound), so a turn not asked for by then is lost to the app. A requirement's bound: not scaled."""
    return catalogue.get("ORD-6").within_s or 10.0


@dataclass
class Turn:
    """One user turn and what became of it. `ok`: True answered, False lost, None not judged (see `reason`)."""

    number: int                      # 1-based, per client connection, in time order
    kind: str                        # "typed" | "spoken"
    text: str                        # the typed content, or the spoken item's transcript when known
    sent: Frame                      # the InjectUserMessage (leg A) or the service's input_audio_buffer.committed
    confirmed: Frame | None = None   # the upstream's confirmation of its user item (the commit itself, spoken)
    answer: Response | None = None   # the first response started after it whose output reached the client
    reply: Frame | None = None       # that response's first output to the client
    ok: bool | None = None
    reason: str = ""
    creates: list[Frame] = field(default_factory=list)   # the proxy's response.create after the confirmation

    @property
    def name(self) -> str:
        return f"turn {self.number} ({self.kind}{f' {self.text!r}' if self.text else ''})"


def _spoken_text(frames: list[Frame], committed: Frame) -> str:
    item = committed.message.get("item_id") if committed.message else None
    done = next((f for f in frames if f.route == UPSTREAM_TO_PROXY and f.item_id == item and item is not None
                 and f.type == "conversation.item.input_audio_transcription.completed"), None)
    return (done.message.get("transcript") or "") if done is not None else ""


def user_turns(timeline: Timeline, until: float = math.inf) -> list[Turn]:
    """TURN-1's facts: each user turn on each client connection (each InjectUserMessage, each spoken turn the
    service committed) and whether it was answered: a response started after the turn's item was confirmed (a
    spoken turn: after its commit) and its output (assistant ConversationText, FunctionCallRequest or audio)
    reached the client. A typed message sent while a response was active is ORD-7's: skipped (ok None), saying so.
    An utterance the client spoke that was never committed is the suite's to judge (it knows what it sent). One
    failure, one id: not judged after a premature response.create on the connection (the upstream then withholds
    every reply: ORD-1's), nor when the upstream rejected a response.create after the turn (ORD-4's). `until` (the
    frames' clock): how far the recording is known to cover (a live or cut recording, as explore's, passes its last
    frame); an unanswered turn is lost only once it covers RELAY_S past every response started after it (its output
    may still be on its way), or, none started, lost_after_s() past the moment the proxy could ask (its confirmation,
    and every response active then done). The default takes the recording as complete (a suite that waited)."""
    found: list[Turn] = []
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        resps = responses(frames)
        heard = spoken(frames)
        turns: list[Turn] = []
        for frame in frames:
            if frame.route == CLIENT_TO_PROXY and frame.type == "InjectUserMessage":
                turns.append(Turn(0, "typed", str((frame.message or {}).get("content") or ""), frame))
            elif frame.route == UPSTREAM_TO_PROXY and frame.type == "input_audio_buffer.committed":
                turns.append(Turn(0, "spoken", _spoken_text(frames, frame), frame, confirmed=frame))
        for number, turn in enumerate(turns, 1):
            turn.number = number
            _judge_turn(timeline, frames, resps, heard, turn, until)
        found.extend(turns)
    return found


def _judge_turn(timeline: Timeline, frames, resps: list[Response], heard, turn: Turn, end: float) -> None:
    if turn.kind == "typed":
        active = next((r for r in resps if r.active_at(turn.sent.t)), None)
        if active is not None:
            turn.reason = (f"{turn.name} was sent while response {active.id} was active ({at(timeline, active.created)}"
                           f"): ORD-7's to judge, skipped by TURN-1")
            return
        item = next((f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "conversation.item.create"
                     and f.role == "user" and f.t >= turn.sent.t and item_text(f) == turn.text), None)
        if item is None:
            turn.reason = f"{turn.name}: its user item never went upstream (MAP-1's to judge)"
            return
        turn.confirmed = _confirmation(frames, item, "user")
        if turn.confirmed is None:
            turn.reason = f"{turn.name}: the upstream never confirmed its user item (sent {at(timeline, item)})"
            return
    since = turn.confirmed.t
    turn.creates = [f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "response.create"
                    and f.t > since]
    for r in (r for r in resps if r.created.t > since):
        reply = _first_output(heard, r)
        if reply is not None:
            turn.answer, turn.reply, turn.ok = r, reply, True
            turn.reason = f"{turn.name} was answered by response {r.id}: {at(timeline, reply)}"
            return
    if _not_yet_lost(timeline, frames, resps, turn, end):
        return
    turn.ok = False
    earlier = [r for r in resps if r.done is not None and r.done.t <= since]
    previous = (f"; the previous response ended (response.done) at {_when(timeline, earlier[-1].done)}"
                if earlier else "")
    started = [r for r in resps if r.created.t > since]
    if started:
        why = (f"response {started[0].id} started at {_when(timeline, started[0].created)} but none of its output "
               f"reached the client")
    elif turn.creates:
        why = f"the proxy sent response.create at {_when(timeline, turn.creates[0])} but no response started"
    else:
        why = "the proxy sent no response.create"
    confirmed = "its commit" if turn.kind == "spoken" else "its item was confirmed"
    turn.reason = f"{turn.name} was never answered: {why} after {confirmed} at {_when(timeline, turn.confirmed)}" \
                  f"{previous}"


def _not_yet_lost(timeline: Timeline, frames, resps: list[Response], turn: Turn, end: float) -> bool:
    """Whether an unanswered turn is not TURN-1's to fail (yet); says why in its reason."""
    premature = next((f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "response.create"
                      and f.note.get("premature")), None)
    rejected = next((f for f in turn.creates if f.note.get("rejected")), None)
    since = turn.confirmed.t
    active = [r for r in resps if r.active_at(since)]
    if premature is not None:
        turn.reason = (f"{turn.name}: not judged, the proxy sent a premature response.create "
                       f"({at(timeline, premature)}), after which the upstream withholds every reply (ORD-1's)")
    elif rejected is not None:
        turn.reason = f"{turn.name}: the upstream rejected the response.create {at(timeline, rejected)} (ORD-4's)"
    elif _may_still_come(resps, since, end):
        turn.reason = f"{turn.name}: not answered yet; the recording ends before it could count as lost"
    else:
        return False
    return True


def _may_still_come(resps: list[Response], since: float, end: float) -> bool:
    """Whether the recording (to `end`) is too short to call a turn confirmed at `since` lost: a response started
    after it ended less than RELAY_S before (its output may still be on its way to the client); or none started and
    the recording covers less than lost_after_s() past the moment the proxy could ask (every response active at
    `since` done)."""
    started = [r for r in resps if r.created.t > since]
    if started:
        return any(r.done is None or end < r.done.t + RELAY_S for r in started)
    active = [r for r in resps if r.active_at(since)]
    return any(r.done is None for r in active) or end < max([since] + [r.done.t for r in active]) + lost_after_s()


def turn_1(timeline: Timeline, until: float = math.inf) -> Violation | None:
    """The first lost user turn (user_turns) as a Violation; None when none was."""
    lost = next((t for t in user_turns(timeline, until) if t.ok is False), None)
    if lost is None:
        return None
    confirmed = (lost.confirmed,) if lost.confirmed is not lost.sent else ()
    return Violation("TURN-1", lost.reason, (lost.sent,) + confirmed + tuple(lost.creates[:1]))


# --------------------------------------------------------------------------------------------------- FN-1

# What the proxy got before a response.done it relays after it: the upstream tap records that response.done on leg B
# before the proxy's relay of the output just before it is recorded on leg A. A follow-up that sent the client nothing
# is judged only once the recording covers this long after its response.done (as AGENT-1's missing AgentAudioDone).
RELAY_S = 1.0


def follow_up_within_s() -> float:
    """FN-1's bound from the later of the output item's confirmation and the calling response's end."""
    return catalogue.get("FN-1").within_s or 2.0


@dataclass
class FollowUp:
    """One FunctionCallResponse and its follow-up. `ok`: True met, False broken, None not judged (`reason`)."""

    call_id: str | None
    sent: Frame                              # the FunctionCallResponse on leg A
    output: Frame | None = None              # its function_call_output item upstream
    confirmed: Frame | None = None           # that item's confirmation
    caller: Response | None = None           # the response that made the call
    creates: list[Frame] = field(default_factory=list)   # response.create after it, before the follow-up's reply
    reply: Frame | None = None               # the follow-up's first output to the client
    ok: bool | None = None
    reason: str = ""


def _caller(frames: list[Frame], resps: list[Response], call_id) -> Response | None:
    made = next((f for f in frames if f.route == UPSTREAM_TO_PROXY and f.call_id == call_id and call_id
                 and f.type in ("response.function_call_arguments.done", "response.output_item.done",
                                "response.output_item.added")), None)
    if made is None:
        return None
    return next((r for r in resps if r.id is not None and r.id == made.response_id), None) or \
        next((r for r in reversed(resps) if r.created.t <= made.t), None)


def follow_ups(timeline: Timeline, until: float | None = None) -> list[FollowUp]:
    """FN-1's facts for each FunctionCallResponse: exactly one response.create after it (before the follow-up is
    answered), no later than 2 s after the later of its function_call_output item's confirmation and the calling
    response's response.done (when that response ended first, the bound counts from the confirmation), and the
    follow-up's reply reaches the client. A user message the client typed meanwhile may need its own
    response.create: one more is allowed for each. Not judged (ok None) when the output item never went upstream
    (MAP-5's), the upstream never confirmed it or never ended the calling response, or the recording ends before
    the bound with no response.create yet. `until` (the frames' clock, time.monotonic) is how long the recording is
    known to cover when later than its last frame: a suite that waited past the bound with nothing recorded passes
    the time it stopped waiting, so a proxy that stays silent is judged at the bound, not only once it next speaks."""
    found = []
    within = follow_up_within_s()
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        resps = responses(frames)
        heard = spoken(frames)
        end = max([f.t for f in timeline.frames] + ([until] if until is not None else []), default=float("-inf"))
        for sent in (f for f in frames if f.route == CLIENT_TO_PROXY and f.type == "FunctionCallResponse"):
            one = FollowUp(sent.call_id, sent)
            found.append(one)
            one.output = next((f for f in frames if f.route == PROXY_TO_UPSTREAM and f.t > sent.t
                               and f.type == "conversation.item.create" and f.role == "function_call_output"
                               and f.call_id == sent.call_id), None)
            if one.output is None:
                one.reason = f"the function_call_output of call {sent.call_id} never went upstream (MAP-5's to judge)"
                continue
            one.confirmed = _confirmation(frames, one.output, "function_call_output")
            one.caller = _caller(frames, resps, sent.call_id)
            if one.confirmed is None:
                one.reason = f"the upstream never confirmed the function_call_output of call {sent.call_id}"
                continue
            if one.caller is None or one.caller.done is None:
                one.reason = f"the response that made call {sent.call_id} never ended (no response.done)"
                continue
            _judge_follow_up(timeline, frames, resps, heard, one, within, end)
    return found


def _judge_follow_up(timeline, frames, resps, heard, one: FollowUp, within: float, end: float) -> None:
    start = max(one.confirmed, one.caller.done, key=lambda f: f.t)
    deadline = start.t + within
    # A create the service rejected as colliding with the active response (sent too early: ORD-3's or ORD-4's) is
    # that id's defect: not the follow-up, and not counted again here (one defect, one id).
    creates = [f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "response.create"
               and f.t > one.sent.t and f.note.get("rejected") != invariants.ALREADY_ACTIVE]
    follow = next((r for r in resps if creates and r.created.t > creates[0].t), None)
    one.reply = _first_output(heard, follow) if follow is not None else None
    until = one.reply.t if one.reply is not None else float("inf")
    one.creates = [f for f in creates if f.t < until]
    typed = [f for f in frames if f.route == CLIENT_TO_PROXY and f.type == "InjectUserMessage"
             and one.caller.created.t < f.t < until]
    bound = f"{within:g} s after {at(timeline, start)}"
    if not one.creates:
        if end < deadline:
            one.reason = f"no response.create after the FunctionCallResponse yet; the recording ends before {bound}"
            return
        one.ok, one.reason = False, f"no response.create for the result of call {one.call_id} within {bound}: never"
        return
    first = one.creates[0]
    if first.t > deadline:
        one.ok = False
        one.reason = (f"the follow-up {at(timeline, first)} came {first.t - start.t:.2f} s after {at(timeline, start)}"
                      f" (at most {within:g} s)")
    elif len(one.creates) > 1 + len(typed):
        one.ok = False
        one.reason = (f"{len(one.creates)} response.create after the FunctionCallResponse before the follow-up was "
                      f"answered (one expected): {', '.join(at(timeline, f) for f in one.creates[:3])}")
    elif one.reply is None:
        # A follow-up the service cancelled (the user spoke over it) is the service's interruption, not the proxy's.
        over = follow is not None and follow.done is not None and end >= follow.done.t + RELAY_S \
            and status(follow) != "cancelled"
        one.ok = False if over else None
        one.reason = (f"the follow-up response {follow.id} ({at(timeline, follow.created)}) sent nothing to the "
                      f"client" if follow is not None else
                      f"the proxy sent {at(timeline, first)} but no follow-up response started")
    else:
        one.ok = True
        one.reason = f"the follow-up {at(timeline, first)}, its reply {at(timeline, one.reply)}"


def status(response: Response) -> str | None:
    """The status a response.done gives its response (completed, cancelled, ...), or None."""
    data = response.done.message if response.done is not None and response.done.message else {}
    return (data.get("response") or {}).get("status") if isinstance(data.get("response"), dict) else None


def fn_1(timeline: Timeline, until: float | None = None) -> Violation | None:
    """The first broken follow-up (follow_ups) as a Violation; None when none was."""
    if not any(f.type == "FunctionCallResponse" for f in timeline.frames):
        return None     # the situation never arose (cheap: explore judges every running session often)
    one = next((one for one in follow_ups(timeline, until) if one.ok is False), None)
    if one is None:
        return None
    anchors = (one.sent, one.confirmed, one.caller.done, *one.creates[:2])
    return Violation("FN-1", f"the FunctionCallResponse at {timeline.offset(one.sent):.3f} s: {one.reason}",
                     tuple(a for a in anchors if a is not None))
