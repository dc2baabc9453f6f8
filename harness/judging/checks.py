"""Checks named after what they assert; a failure names the requirement and shows the timeline slice.

Four ways a check ends besides passing: `fail` (the proxy broke the requirement), `not_provoked` (the
situation the check needs never arose: inconclusive, never a pass), `for_want_of` (a step the check needed
did not happen, so the requirement could not be judged; the missing step is another id's failure, reported
under that id, or this one is inconclusive) and `not_exercised` (the app did not send the stimulus the check
needs, for want of an optional capability: skipped, naming the app and the capability).

A check judges its test's requirement: the id of the test's `req` marker, filled in by the judge
(judging.outcome). Only a test marked with several ids names the one a check judges (`req="WIRE-4"`); a check
that names none there is a harness error, never the proxy's failure."""

from __future__ import annotations

import re

from voice_harness.judging.timeline import Frame, Timeline


class ConformanceFailure(AssertionError):
    """A requirement was violated. str() is the one-line reason (after the id, once it is known); the slice follows
    on later lines. `req` None: the test's own id, which the judge fills in (`named`)."""

    def __init__(self, req: str | None, reason: str, slice_text: str = "", anchors: tuple[Frame, ...] = ()):
        self.req, self.reason, self.slice_text, self.anchors = req, reason, slice_text, anchors
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"{self.req}: {self.reason}" if self.req else self.reason
        return head + (f"\ntimeline (t from test start):\n{self.slice_text}" if self.slice_text else "")

    def named(self, req: str) -> ConformanceFailure:
        """The same verdict under `req` (the test's id, for a check that named none): a copy, this one untouched."""
        if self.req == req:
            return self
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._name(req)
        AssertionError.__init__(copy, copy._text())
        copy.__traceback__ = self.__traceback__
        return copy

    def _name(self, req: str) -> None:
        self.req = req


class Inconclusive(ConformanceFailure):
    """The requirement could not be judged in this test: the situation it needs never arose, or a step it
    needed did not happen. Never a pass; never the proxy's failure under this id."""


class NotExercised(Inconclusive):
    """The app did not send what the check needs (no greeting, no context, no functions) or lacks an optional
    element it needs (the played-audio counter): the check is skipped, naming the app and the capability. Never the proxy's failure, never a run error. (The plugin
    reports it as skipped; were it not mapped, it would still be inconclusive, never a pass.)"""

    def __init__(self, req: str | None, reason: str, capability: str, slice_text: str = "",
                 anchors: tuple[Frame, ...] = (), what: str | None = None):
        self.capability, self.what = capability, what   # what: the reason's words without the id (not_exercised)
        super().__init__(req, reason, slice_text, anchors)

    def _name(self, req: str) -> None:
        super()._name(req)
        if self.what is not None:   # the reason names the id: say it now that it is known
            self.reason = _not_exercised_reason(self.what, req, self.capability)


def _slice(timeline: Timeline | None, anchors: tuple[Frame | None, ...]) -> tuple[str, tuple[Frame, ...]]:
    present = tuple(a for a in anchors if a is not None)
    return (timeline.render(timeline.around(*anchors), highlight=present) if timeline else ""), present


def fail(reason: str, timeline: Timeline | None = None, *anchors: Frame | None, req: str | None = None) -> None:
    """Fail the requirement (`req`, by default the test's id) for what the proxy did: `reason`, with the timeline
    slice around the anchors."""
    slice_text, present = _slice(timeline, anchors)
    raise ConformanceFailure(req, reason, slice_text, present)


def fail_on(violation, timeline: Timeline | None = None, consequence: str = "") -> None:
    """Fail the violation's id with its reason (and what followed from it, if the test saw more), anchored where the
    judge found it; nothing when there is no violation (None)."""
    if violation is not None:
        fail(violation.reason + consequence, timeline, *violation.anchors, req=violation.req)


def not_provoked(needs: str, timeline: Timeline | None = None, *anchors: Frame | None,
                 req: str | None = None) -> None:
    """End the test inconclusive: the situation the check needs (`needs`) never arose."""
    slice_text, present = _slice(timeline, anchors)
    raise Inconclusive(req, f"inconclusive: the check needs {needs}, which never arose in this test",
                       slice_text, present)


def for_want_of(what: str, timeline: Timeline | None = None, *anchors: Frame | None, req: str | None = None) -> None:
    """End the test inconclusive because a step it needed (`what`) did not happen: judged under the id whose
    requirement that step is, not counted again under this one."""
    slice_text, present = _slice(timeline, anchors)
    raise Inconclusive(req, f"not judged: {what}", slice_text, present)


_CAPABILITY = re.compile(r"\(app capability: ([^)]+)\)")


def capability_named(reason: str) -> str | None:
    """The app capability a skip's reason names (written by not_exercised), or None."""
    found = _CAPABILITY.search(reason or "")
    return found.group(1) if found else None


def not_exercised(capability: str, what: str, timeline: Timeline | None = None, *anchors: Frame | None,
                  req: str | None = None) -> None:
    """End the test skipped: the app did not do `what` the check needs (e.g. "the app sent no context", judged
    from what it sent on leg A), for want of the optional app capability `capability` (e.g. "context")."""
    slice_text, present = _slice(timeline, anchors)
    raise NotExercised(req, _not_exercised_reason(what, req, capability), capability, slice_text, present, what)


def _not_exercised_reason(what: str, req: str | None, capability: str) -> str:
    return f"{what}: {req + ' ' if req else ''}not exercised (app capability: {capability})"


def provoked(situation: object, needs: str, timeline: Timeline | None = None, *anchors: Frame | None,
             req: str | None = None) -> None:
    """The check's situation arose (situation is truthy), else the test is inconclusive."""
    if not situation:
        not_provoked(needs, timeline, *anchors, req=req)


def assert_before(timeline: Timeline, first: Frame | None, then: Frame | None, first_is: str, *,
                  req: str | None = None) -> None:
    """If `then` happened, `first` (described by first_is) happened before it."""
    if then is None:
        return
    if first is None or first.t > then.t:
        when = f"only at {timeline.offset(first):.3f}s" if first else "absent when checked"
        fail(f"{then.label()} at {timeline.offset(then):.3f}s came before {first_is} ({when})",
             timeline, first, then, req=req)


def assert_never(timeline: Timeline, frames: list[Frame], what: str, *, req: str | None = None) -> None:
    if frames:
        fail(f"{what}: {frames[0].label()} at {timeline.offset(frames[0]):.3f}s", timeline, *frames[:3], req=req)


def assert_within(timeline: Timeline, start: Frame, end: Frame | None, seconds: float, what: str, *,
                  req: str | None = None) -> None:
    if end is None or end.t - start.t > seconds:
        took = f"{end.t - start.t:.2f} s" if end else "never"
        fail(f"{what} within {seconds:g} s: took {took}", timeline, start, end, req=req)
