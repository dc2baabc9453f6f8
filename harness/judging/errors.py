"""ERR-4: an `Error` to the client answers something: an upstream `error` event, the upstream socket's close (or the
proxy never reaching the upstream), or a client message the proxy may reject. A server event the proxy does not map
(`response.created`, a `*.delta`, `rate_limits.updated`, a type it has never seen) is dropped, never an `Error`.

Matched by credit, in time order, per client connection (with the upstream connections opened for it): each
explanation gives one credit, each Error spends one; an Error with no credit left was invented. Generous on
purpose (any client text frame may be rejected, an upstream close may be relayed as several Errors in turn), so
that only the defect class the requirement names, Errors nothing asked for, is red. Pure, no I/O.
"""

from __future__ import annotations

from voice_harness.judging.sessions import Violation, at, frames_of, upstream_connections
from voice_harness.judging.timeline import Frame, Timeline

NAMED_BEFORE = 3   # upstream events a reason names, the last ones before the invented Error


def _explains(frame: Frame) -> bool:
    """Whether this frame is something a proxy may answer with an Error."""
    if frame.leg == "B":
        return (frame.arrow == "<-" and frame.type == "error") or frame.kind == "close"
    if frame.arrow == "->":   # the client's message: any text frame, a binary frame that is no PCM16 audio
        return frame.kind == "text" or (frame.kind == "binary" and (frame.size == 0 or frame.size % 2 == 1))
    return False


def _describe(error: Frame) -> str:
    message = error.message or {}
    said = message.get("description") or message.get("message") or message.get("code") or ""
    return f"an Error {said!r}" if said else "an Error"


def invented_errors(timeline: Timeline) -> list[Violation]:
    """Every Error to the client that nothing before it on its connection explains (see the module's doc)."""
    found = []
    for conn in upstream_connections(timeline):
        credit, upstream_seen = 0, False
        recent: list[Frame] = []     # upstream events since the last explanation, for the reason
        for frame in frames_of(timeline, conn):
            if frame.leg == "B":
                upstream_seen = True
            if _explains(frame):
                credit += 1
                recent = []
            elif frame.leg == "B" and frame.arrow == "<-" and frame.type:
                recent.append(frame)
            elif frame.leg == "A" and frame.arrow == "<-" and frame.type == "Error":
                if not upstream_seen:
                    continue    # the proxy never reached its upstream (yet): that absence is the explanation
                if credit:
                    credit -= 1
                    continue
                named = recent[-NAMED_BEFORE:]
                before = (", ".join(at(timeline, f) for f in named) if named else "no upstream event since the last "
                          "explained one")
                found.append(Violation("ERR-4", f"{_describe(frame)} ({at(timeline, frame)}) answered nothing: no "
                                                f"upstream error, upstream close or client message left to explain "
                                                f"it; the upstream events just before it: {before}",
                                       (*named, frame)))
    return sorted(found, key=lambda v: v.anchors[-1].t)


def err_4(timeline: Timeline) -> Violation | None:
    found = invented_errors(timeline)
    return found[0] if found else None
