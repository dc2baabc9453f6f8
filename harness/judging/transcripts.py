"""MAP-9's interim transcripts: an interim `Transcript` (is_final false) carries the item's transcription so far
(the upstream's `conversation.item.input_audio_transcription.delta` events of that item joined), not only the
latest delta. Pure, no I/O.

An interim Transcript is matched to the item whose delta reached the proxy last before it. The proxy may be a
delta behind the recording (the next delta can reach it while it sends the Transcript), so any transcription so
far by whole deltas up to then holds, as does a longer prefix of the item's final transcript.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_harness.judging.sessions import at, frames_of, upstream_connections
from voice_harness.judging.timeline import PROXY_TO_CLIENT, UPSTREAM_TO_PROXY, Frame, Timeline

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def _item(frame: Frame) -> str | None:
    return (frame.message or {}).get("item_id")


@dataclass(frozen=True)
class Interim:
    """One interim Transcript and how it reads against its item: `ok` True, False, None (no delta to match)."""

    frame: Frame
    ok: bool | None
    reason: str


def interim_transcripts(timeline: Timeline) -> list[Interim]:
    found = []
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        deltas: dict[str | None, list[Frame]] = {}
        for frame in frames:
            if frame.route == UPSTREAM_TO_PROXY and frame.type == DELTA:
                deltas.setdefault(_item(frame), []).append(frame)
        finals = {_item(f): str((f.message or {}).get("transcript") or "") for f in frames
                  if f.route == UPSTREAM_TO_PROXY and f.type == COMPLETED}
        for frame in frames:
            if frame.route != PROXY_TO_CLIENT or frame.type != "Transcript" \
                    or (frame.message or {}).get("is_final") is not False:
                continue
            found.append(_judge(timeline, frame, deltas, finals))
    return found


def _judge(timeline: Timeline, frame: Frame, deltas: dict, finals: dict) -> Interim:
    content = (frame.message or {}).get("content")
    latest = max(((item, [d for d in ds if d.t < frame.t]) for item, ds in deltas.items()),
                 key=lambda pair: pair[1][-1].t if pair[1] else float("-inf"), default=(None, []))
    item, before = latest
    if not before:
        return Interim(frame, None, f"{at(timeline, frame)} follows no transcription delta")
    pieces = [str((d.message or {}).get("delta") or "") for d in before]
    so_far = ["".join(pieces[:n]) for n in range(1, len(pieces) + 1)]
    final = finals.get(item, "")
    if content in so_far or (isinstance(content, str) and final.startswith(content)
                             and len(content) > len(so_far[-1])):
        return Interim(frame, True, f"{at(timeline, frame)} carries the transcription so far")
    only_latest = content == pieces[-1] and pieces[-1] != so_far[-1]
    what = "only the latest delta" if only_latest else "neither the transcription so far nor a prefix of the final"
    return Interim(frame, False, f"{at(timeline, frame)} carries {what} ({content!r}); item {item}'s transcription "
                                 f"so far is {so_far[-1]!r}")
