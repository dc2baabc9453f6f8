"""Why a reply did not come, in one line, read from the timeline: who closed, when, with which code."""

from __future__ import annotations

from .timeline import Frame, Timeline

CLOSED_BY = {
    ("B", "<-"): "upstream closed",
    ("B", "->"): "the proxy closed its upstream socket",
    ("A", "<-"): "the proxy closed the client connection",
    ("A", "->"): "the app closed the connection itself (client-initiated)",
}


def connections_of(timeline: Timeline, sent: Frame) -> dict[str, int]:
    """The leg A and leg B connection numbers that carried the user's message."""
    conns = {"A": sent.conn}
    upstream = timeline.first(leg="B", arrow="->", type="conversation.item.create", role="user", after=sent)
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
    upstream_calls = timeline.select(leg="B", arrow="->", type="response.create", after=sent)
    hint = "" if upstream_calls else "; the proxy never sent response.create"
    return f"no agent reply within {waited_s:.1f} s after first message, connection still open{hint}"
