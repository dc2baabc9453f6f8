"""AGENT-1 and AGENT-2: the agent activity signals (`AgentStartedSpeaking`, `AgentAudioDone`) around each response.

Apps of this family run an idle timer on what the proxy sends (PROTOCOL.md section 6): a proxy that never says the
agent is speaking, or says it stopped while its audio still streams, gets its socket closed mid-reply. Pure
functions of a timeline, per client connection (with the upstream connections opened for it): a response is
leg B `response.created` .. `response.done`; its audio is the leg A binary frames to the client, each belonging to
the latest response whose first `response.output_audio.delta` reached the proxy before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_harness.judging import app_settings, catalogue
from voice_harness.judging.sessions import Response, Violation, at, frames_of, responses, upstream_connections
from voice_harness.judging.timeline import CLIENT_LEG, PROXY_TO_CLIENT, UPSTREAM_TO_PROXY, Frame, Timeline

STARTED, AUDIO_DONE, DONE = "AgentStartedSpeaking", "AgentAudioDone", "AgentDone"
AUDIO_DELTA = "response.output_audio.delta"


def audio_done_within_s() -> float:
    """AGENT-1's bound between a response's response.done and its AgentAudioDone (the catalogue's)."""
    return catalogue.get("AGENT-1").within_s or 1.0


@dataclass
class Spoken:
    """One response as the client heard it: its audio frames to the client (empty for a response without audio)
    and its other output to the client (assistant ConversationText, FunctionCallRequest)."""

    response: Response
    audio: list[Frame]
    output: list[Frame]


def _owner_by_first_delta(resps: list[Response], frames: list[Frame]) -> list[tuple[float, Response]]:
    """(when its first audio delta reached the proxy, response), in time order, for each response with audio."""
    by_id = {r.id: r for r in resps}
    first: dict[int, tuple[float, Response]] = {}
    for frame in frames:
        if frame.route == UPSTREAM_TO_PROXY and frame.type == AUDIO_DELTA:
            owner = by_id.get(frame.response_id) if frame.response_id is not None else None
            if owner is None:   # no id to follow: the latest response announced before it
                owner = next((r for r in reversed(resps) if r.created.t <= frame.t), None)
            if owner is not None and id(owner) not in first:
                first[id(owner)] = (frame.t, owner)
    return sorted(first.values(), key=lambda pair: pair[0])


def spoken(frames: list[Frame]) -> list[Spoken]:
    """Each response on these frames (one client connection's) with what of it reached the client, in order."""
    resps = responses(frames)
    found = {id(r): Spoken(r, [], []) for r in resps}
    starts = _owner_by_first_delta(resps, frames)
    for frame in frames:
        if frame.route != PROXY_TO_CLIENT:
            continue
        if frame.kind == "binary":
            owner = next((r for t, r in reversed(starts) if t < frame.t), None)
            if owner is not None:
                found[id(owner)].audio.append(frame)
        elif frame.type == "FunctionCallRequest" or (frame.type == "ConversationText" and frame.role == "assistant"):
            owner = next((r for r in reversed(resps) if r.created.t < frame.t), None)
            if owner is not None:
                found[id(owner)].output.append(frame)
    return [found[id(r)] for r in resps]


def _signals(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.route == PROXY_TO_CLIENT and f.type in (STARTED, AUDIO_DONE, DONE)]


def _covered_until(timeline: Timeline, frames: list[Frame]) -> float:
    """Until when the recording shows this client connection: its close, else the last frame recorded."""
    close = next((f for f in frames if f.leg == CLIENT_LEG and f.kind == "close"), None)
    return close.t if close is not None else max((f.t for f in timeline.frames), default=float("-inf"))


def _started_in(signals: list[Frame], since: float, before: float) -> Frame | None:
    """The AgentStartedSpeaking that opened the agent's turn ending at `before`: after `since` and after the last
    AgentAudioDone/AgentDone before `before` (a signal that was already closed is another turn's)."""
    opened = None
    for signal in signals:
        if signal.t >= before:
            break
        if signal.t <= since:
            continue
        if signal.type == STARTED:
            opened = opened or signal
        else:
            opened = None
    return opened


def agent_1_violations(timeline: Timeline) -> list[Violation]:
    """AGENT-1 on every response with audio: an AgentStartedSpeaking after the previous response's end (or after
    this one's response.created) and before its first audio frame to the client; no audio frame of it after an
    AgentAudioDone of it; an AgentAudioDone after its last audio frame and within 1 s of its response.done. A
    missing AgentAudioDone is judged only where the recording covers the client connection for 1 s past that
    response.done. AgentDone does not stand in for AgentAudioDone here."""
    found = []
    within = audio_done_within_s()
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        heard = spoken(frames)
        signals = _signals(frames)
        covered = _covered_until(timeline, frames)
        with_audio = [s for s in heard if s.audio]
        for index, one in enumerate(with_audio):
            r, first, last = one.response, one.audio[0], one.audio[-1]
            position = heard.index(one)
            previous = heard[position - 1].response if position else None
            since = (previous.done or previous.created).t if previous is not None else float("-inf")
            since = min(since, r.created.t)
            name = f"response {r.id or '(no id)'}"
            if _started_in(signals, since, first.t) is None:
                found.append(Violation("AGENT-1", f"{name} sent audio to the client ({at(timeline, first)}) with no "
                                                  f"AgentStartedSpeaking before it", (r.created, first)))
            until = with_audio[index + 1].audio[0].t if index + 1 < len(with_audio) else float("inf")
            dones = [s for s in signals if s.type == AUDIO_DONE and first.t < s.t < until]
            early = next((d for d in dones if d.t < last.t), None)
            if early is not None:
                later = next(f for f in one.audio if f.t > early.t)
                found.append(Violation("AGENT-1", f"{at(timeline, early)} while {name}'s audio was still arriving: "
                                                  f"its audio frame {at(timeline, later)} came after it",
                                       (early, later)))
                continue
            if r.done is None:
                continue    # never ended in the recording: its AgentAudioDone cannot be judged
            timely = [d for d in dones if d.t > last.t and abs(d.t - r.done.t) <= within]
            if timely or covered < r.done.t + within:
                continue
            late = next((d for d in dones if d.t > last.t), None)
            what = (f"the only one came {at(timeline, late)}, {late.t - r.done.t:.2f} s from it" if late is not None
                    else "none came")
            found.append(Violation("AGENT-1", f"{name} ended ({at(timeline, r.done)}, its last audio frame to the "
                                              f"client {at(timeline, last)}) with no AgentAudioDone within "
                                              f"{within:g} s of its response.done: {what}",
                                   tuple(f for f in (last, r.done, late) if f is not None)))
    return sorted(found, key=lambda v: v.anchors[-1].t)


def agent_1(timeline: Timeline) -> Violation | None:
    found = agent_1_violations(timeline)
    return found[0] if found else None


# ------------------------------------------------------------------------------------------------- AGENT-2

@dataclass(frozen=True)
class Signalled:
    """How the agent's activity was signalled around one response without audio, or the greeting: `ok` True when
    both signals came, False when one is missing, None when the recording ends too soon to tell."""

    what: str                  # e.g. "response r1 (text)", "the greeting"
    first: Frame               # its first output to the client
    ok: bool | None
    reason: str


def _greeting_output(timeline: Timeline, frames: list[Frame], conn: int) -> Frame | None:
    settings = app_settings.sent(timeline, conn)
    if settings is None or settings.greeting is None:
        return None
    return next((f for f in frames if f.route == PROXY_TO_CLIENT and f.type == "ConversationText"
                 and f.role == "assistant" and (f.message or {}).get("content") == settings.greeting), None)


def agent_2_findings(timeline: Timeline, settle_s: float = 1.0) -> list[Signalled]:
    """AGENT-2 for each response without audio that reached the client (text, or a function call) and for the
    greeting, per client connection: an AgentStartedSpeaking before its first output to the client (after the
    previous turn's end) and an AgentAudioDone or AgentDone after its last output, before the agent's next
    output. A closing signal still missing is undecided (ok None) unless the agent went on, the connection closed,
    or the recording covers `settle_s` past the end of the turn (its response.done)."""
    found = []
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        signals = _signals(frames)
        covered = _covered_until(timeline, frames)
        turns: list[tuple[str, list[Frame], float | None, float]] = []   # what, outputs, end, since
        greeting = _greeting_output(timeline, frames, conn)
        if greeting is not None:
            turns.append(("the greeting", [greeting], greeting.t, float("-inf")))
        heard = spoken(frames)
        for position, one in enumerate(heard):
            output = [f for f in one.output if f is not greeting]
            if one.audio or not output:
                continue    # AGENT-1's, or nothing reached the client
            kind = "a function call" if any(f.type == "FunctionCallRequest" for f in output) else "text"
            previous = heard[position - 1].response if position else None
            since = min((previous.done or previous.created).t if previous else float("-inf"), one.response.created.t)
            end = one.response.done.t if one.response.done is not None else None
            turns.append((f"response {one.response.id or '(no id)'} ({kind})", output, end, since))
        turns.sort(key=lambda turn: turn[1][0].t)
        agent_output = [f for f in frames if f.route == PROXY_TO_CLIENT and (
            f.kind == "binary" or f.type == "FunctionCallRequest"
            or (f.type == "ConversationText" and f.role == "assistant"))]
        for what, output, end, since in turns:
            first, last = output[0], output[-1]
            next_output = next((f.t for f in agent_output if f.t > last.t and all(f is not o for o in output)),
                               float("inf"))
            started = _started_in(signals, since, first.t)
            closed = next((s for s in signals if s.type in (AUDIO_DONE, DONE) and last.t <= s.t < next_output), None)
            if started is None:
                found.append(Signalled(what, first, False, f"{what} reached the client ({at(timeline, first)}) with "
                                                           f"no AgentStartedSpeaking before it"))
            elif closed is not None:
                found.append(Signalled(what, first, True, f"{what}: {at(timeline, started)}, then "
                                                          f"{at(timeline, closed)}"))
            elif next_output < float("inf") or covered >= max(end or last.t, last.t) + settle_s:
                found.append(Signalled(what, first, False, f"{what} reached the client ({at(timeline, last)}) and no "
                                                           f"AgentAudioDone or AgentDone followed it"))
            else:
                found.append(Signalled(what, first, None, f"{what}: the recording ends too soon after it to tell "
                                                          f"whether AgentAudioDone or AgentDone follows"))
    return found


def agent_2(timeline: Timeline) -> Violation | None:
    """The first AGENT-2 finding that is a miss, as a violation."""
    miss = next((f for f in agent_2_findings(timeline) if f.ok is False), None)
    return Violation("AGENT-2", miss.reason, (miss.first,)) if miss is not None else None
