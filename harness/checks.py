"""Checks named after what they assert; a failure names the requirement and shows the timeline slice."""

from __future__ import annotations

from .timeline import Frame, Timeline


class ConformanceFailure(AssertionError):
    """A requirement was violated. str() is the one-line reason; the slice follows on later lines."""

    def __init__(self, req: str, reason: str, slice_text: str = "", anchors: tuple[Frame, ...] = ()):
        self.req, self.reason, self.slice_text, self.anchors = req, reason, slice_text, anchors
        super().__init__(f"{req}: {reason}" + (f"\ntimeline (t from test start):\n{slice_text}" if slice_text else ""))


def fail(req: str, reason: str, timeline: Timeline | None = None, *anchors: Frame | None) -> None:
    present = tuple(a for a in anchors if a is not None)
    slice_text = timeline.render(timeline.around(*anchors), highlight=present) if timeline else ""
    raise ConformanceFailure(req, reason, slice_text, present)


def assert_before(timeline: Timeline, first: Frame | None, then: Frame | None, req: str, first_is: str) -> None:
    """If `then` happened, `first` (described by first_is) happened before it."""
    if then is None:
        return
    if first is None or first.t > then.t:
        when = f"only at {timeline.offset(first):.3f}s" if first else "absent when checked"
        fail(req, f"{then.label()} at {timeline.offset(then):.3f}s came before {first_is} ({when})",
             timeline, first, then)


def assert_never(timeline: Timeline, frames: list[Frame], req: str, what: str) -> None:
    if frames:
        fail(req, f"{what}: {frames[0].label()} at {timeline.offset(frames[0]):.3f}s", timeline, *frames[:3])


def assert_within(timeline: Timeline, start: Frame, end: Frame | None, seconds: float, req: str, what: str) -> None:
    if end is None or end.t - start.t > seconds:
        took = f"{end.t - start.t:.2f} s" if end else "never"
        fail(req, f"{what} within {seconds:g} s: took {took}", timeline, start, end)
