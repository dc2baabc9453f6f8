"""Why a reply did not come, in one line, read from the timeline: who closed, when, with which code."""

from __future__ import annotations

import time

from voice_harness.judging.timeline import Frame, PROXY_TO_UPSTREAM, Timeline, UPSTREAM_TO_PROXY
from voice_harness.timeouts import units

CLOSED_BY = {
    ("B", "<-"): "upstream closed",
    ("B", "->"): "the proxy closed its upstream socket",
    ("A", "<-"): "the proxy closed the client connection",
    ("A", "->"): "the app closed the connection itself (client-initiated)",
}


def connections_of(timeline: Timeline, sent: Frame) -> dict[str, int]:
    """The leg A and leg B connection numbers that carried the user's message."""
    conns = {"A": sent.conn}
    upstream = timeline.first(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user", after=sent)
    if upstream is not None:
        conns["B"] = upstream.conn
    return conns


def first_close(timeline: Timeline, sent: Frame) -> Frame | None:
    conns = connections_of(timeline, sent)
    closes = [f for f in timeline.select(kind="close", after=sent) if conns.get(f.leg) == f.conn]
    return closes[0] if closes else None


def why_no_reply(timeline: Timeline, sent: Frame | None, waited_s: float) -> str:
    if sent is None:
        return "the app never sent InjectUserMessage (no SettingsApplied, or the send was lost)"
    close = first_close(timeline, sent)
    if close is not None:
        code, reason = close.data.get("code"), close.data.get("reason") or ""
        reason_text = f" {reason!r}" if reason else ""
        return (f"{CLOSED_BY[(close.leg, close.arrow)]} {code}{reason_text} at {close.t - sent.t:.2f} s "
                f"after first message; no agent reply")
    upstream_calls = timeline.select(route=PROXY_TO_UPSTREAM, type="response.create", after=sent)
    hint = "" if upstream_calls else "; the proxy never sent response.create"
    return f"no agent reply within {waited_s:.1f} s after first message, connection still open{hint}"


# After the mock ignored an early response.create, how long the proxy has, once the user item's confirmation
# went out, to ask again before no reply is expected any more. A proxy that retries on the confirmation does
# so within milliseconds; this is seconds of the timeout unit.
RETRY_GRACE_UNITS = 0.5


def refusal(timeline: Timeline, now: float | None = None) -> Frame | None:
    """The response.create that the mock upstream ignored because it came before the user's item was confirmed,
    as the real service does (it then closes the socket about 2.7 s later), once that refusal is final: the
    confirmation went out more than the retry grace ago and the proxy did not ask again. Never with the real
    upstream, whose decisions are not recorded."""
    creates = timeline.select(route=PROXY_TO_UPSTREAM, type="response.create")
    ignored = next((f for f in creates if f.note.get("premature")), None)
    if ignored is None or any(f.t > ignored.t for f in creates):
        return None
    item = ignored.note.get("unconfirmed_item")
    confirmed = timeline.first(route=UPSTREAM_TO_PROXY, type=("conversation.item.added", "conversation.item.done"),
                               item_id=item)
    now = time.monotonic() if now is None else now
    return ignored if confirmed is not None and now - confirmed.t >= units(RETRY_GRACE_UNITS) else None


def refused_reply(timeline: Timeline, now: float | None = None) -> str | None:
    """Why no reply can come, when the mock upstream has said so for good; None while one still can."""
    ignored = refusal(timeline, now)
    return None if ignored is None else _refused(timeline, ignored)


def _refused(timeline: Timeline, ignored: Frame) -> str:
    return (f"the upstream ignored {ignored.label()} at {timeline.offset(ignored):.2f} s, sent before it confirmed "
            f"user item {ignored.note.get('unconfirmed_item')}, and the proxy did not ask again (the real service "
            f"then closes the socket, code 1000, about 2.7 s later)")


def own_closes(timeline: Timeline) -> list[Frame]:
    """Closes of connections that carried something else in this timeline: not a close of an earlier test's
    connection that reached the recorder late."""
    seen, closes = set(), []
    for frame in timeline.frames:
        if frame.kind != "close":
            seen.add((frame.leg, frame.conn))
        elif (frame.leg, frame.conn) in seen:
            closes.append(frame)
    return closes


def ended_by(timeline: Timeline, now: float | None = None) -> tuple[str, Frame | None]:
    """What ended the session's chance of producing more: the mock upstream's final refusal to reply, else the
    first close of this test's connections, as '; upstream closed 1000 at 2.71 s' with its frame; ('', None)
    while the session is live."""
    ignored = refusal(timeline, now)
    if ignored is not None:
        return f"; {_refused(timeline, ignored)}", ignored
    closes = own_closes(timeline)
    if not closes:
        return "", None
    close = closes[0]
    return f"; {CLOSED_BY[(close.leg, close.arrow)]} {close.data.get('code')} at {timeline.offset(close):.2f} s", close
