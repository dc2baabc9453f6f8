"""ERR-4: an `Error` to the client answers something: an upstream `error` event, the upstream socket's close (or the
proxy never reaching the upstream), or a client message the proxy may reject. A server event the proxy does not map
(`response.created`, a `*.delta`, `rate_limits.updated`, a type it has never seen) is dropped, never an `Error`.

Matched by credit, in time order, per client connection (with the upstream connections opened for it): each
explanation gives one credit, each Error spends one; an Error with no credit left was invented. Generous where it
can be (any client text frame may be rejected, an upstream close may be relayed as several Errors in turn), but a
client message the proxy then acted on was accepted, not rejected: its credit lapses when its upstream event goes
out (Settings: session.update or SettingsApplied; InjectUserMessage and FunctionCallResponse: their
conversation.item.create), so an Error for every response.created of a typed conversation is red. Pure, no I/O.
"""

from __future__ import annotations

from voice_harness.judging.sessions import Violation, at, frames_of, upstream_connections
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_LEG,
                                            UPSTREAM_TO_PROXY, Frame, Timeline)

# What shows that the proxy accepted a client message: its upstream event (leg B), or its answer to the client.
ACTED_ON = {"Settings": ("session.update", "SettingsApplied"),
            "InjectUserMessage": ("conversation.item.create",),
            "FunctionCallResponse": ("conversation.item.create",)}
NAMED_BEFORE = 3   # upstream events a reason names, the last ones before the invented Error


def _explains(frame: Frame) -> bool:
    """Whether this frame is something other than a client message that a proxy may answer with an Error: an
    upstream error or close, or a client binary frame that is no PCM16 audio."""
    if frame.leg == UPSTREAM_LEG:
        return (frame.route == UPSTREAM_TO_PROXY and frame.type == "error") or frame.kind == "close"
    return frame.route == CLIENT_TO_PROXY and frame.kind == "binary" and (frame.size == 0 or frame.size % 2 == 1)


def _accepted(pending: list[str], frame: Frame) -> None:
    """The first pending client message this frame shows the proxy acted on loses its credit."""
    if frame.route in (PROXY_TO_UPSTREAM, PROXY_TO_CLIENT):
        for index, kind in enumerate(pending):
            if frame.type in ACTED_ON.get(kind, ()):
                del pending[index]
                return


def _describe(error: Frame) -> str:
    message = error.message or {}
    said = message.get("description") or message.get("message") or message.get("code") or ""
    return f"an Error {said!r}" if said else "an Error"


def invented_errors(timeline: Timeline) -> list[Violation]:
    """Every Error to the client that nothing before it on its connection explains (see the module's doc)."""
    found = []
    for conn in upstream_connections(timeline):
        credit, upstream_seen = 0, False
        pending: list[str] = []      # client text messages not yet acted on: each may still be rejected
        recent: list[Frame] = []     # upstream events since the last explanation, for the reason
        for frame in frames_of(timeline, conn):
            if frame.leg == UPSTREAM_LEG:
                upstream_seen = True
            _accepted(pending, frame)
            if frame.route == CLIENT_TO_PROXY and frame.kind == "text":
                pending.append(frame.type or "")
                recent = []
            elif _explains(frame):
                credit += 1
                recent = []
            elif frame.route == UPSTREAM_TO_PROXY and frame.type:
                recent.append(frame)
            elif frame.route == PROXY_TO_CLIENT and frame.type == "Error":
                if not upstream_seen:
                    continue    # the proxy never reached its upstream (yet): that absence is the explanation
                if pending:
                    pending.pop()    # the latest message not acted on: the one the Error most likely rejects
                    continue
                if credit:
                    credit -= 1
                    continue
                named = recent[-NAMED_BEFORE:]
                before = (", ".join(at(timeline, f) for f in named) if named else "no upstream event since the last "
                          "explained one")
                found.append(Violation("ERR-4", f"{_describe(frame)} ({at(timeline, frame)}) answered nothing: no "
                                                f"upstream error, upstream close or client message not acted on left to explain "
                                                f"it; the upstream events just before it: {before}",
                                       (*named, frame)))
    return sorted(found, key=lambda v: v.anchors[-1].t)


def err_4(timeline: Timeline) -> Violation | None:
    found = invented_errors(timeline)
    return found[0] if found else None
