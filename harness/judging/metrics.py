"""Per-run figures read from a test's timeline (connect, SettingsApplied, time to first reply), the
classification of a failure (phase, close code, who closed first), and their summary over repeated runs."""

from __future__ import annotations

import math
from pathlib import Path

from voice_harness.judging.diagnosis import CLOSED_BY
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, Timeline, UPSTREAM_TO_PROXY

REPLY_EVENTS = ("response.created", "response.output_text.delta", "response.output_audio.delta",
                "response.output_audio_transcript.delta")


def run_figures(timeline: Timeline) -> dict:
    """connect_s: test start to Settings sent (page load and socket open); settings_applied_s: Settings to
    SettingsApplied; ttfr_s: the user's message to the first assistant text. None where it did not happen."""
    settings = timeline.first(route=CLIENT_TO_PROXY, type="Settings")
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    reply = timeline.first(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant", after=sent) if sent else None
    return {"connect_s": _diff(timeline.origin, settings.t if settings else None),
            "settings_applied_s": _diff(settings.t if settings else None, applied.t if applied else None),
            "ttfr_s": _diff(sent.t if sent else None, reply.t if reply else None)}


def classify(timeline: Timeline) -> dict:
    """What a failed run was doing when it failed, and how the connection ended."""
    settings = timeline.first(route=CLIENT_TO_PROXY, type="Settings")
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    replying = timeline.first(route=UPSTREAM_TO_PROXY, type=REPLY_EVENTS, after=sent) if sent else None
    replied = timeline.first(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant", after=sent) if sent else None
    phase = ("connecting" if settings is None else "awaiting settings" if applied is None
             else "before the first message" if sent is None else "awaiting reply" if replying is None
             else "mid-reply" if replied is None else "after the reply")
    closes = timeline.select(kind="close")
    first = closes[0] if closes else None
    return {"phase": phase, "close_code": first.data.get("code") if first else None,
            "closed_first": CLOSED_BY[(first.leg, first.arrow)] if first else "no connection closed"}


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarise(samples: list[float]) -> dict:
    return {"samples": len(samples), "p50": percentile(samples, 0.5), "p95": percentile(samples, 0.95),
            "max": max(samples) if samples else None}


def ttfr_svg(samples: list[float], path: Path, width: int = 640, height: int = 240) -> None:
    """A small line chart of TTFR per run, as SVG (no plotting library needed)."""
    pad, top = 40, max(samples + [0.001]) * 1.1
    step = (width - 2 * pad) / max(1, len(samples) - 1)
    points = " ".join(f"{pad + i * step:.1f},{height - pad - v / top * (height - 2 * pad):.1f}"
                      for i, v in enumerate(samples))
    dots = "".join(f'<circle cx="{pad + i * step:.1f}" cy="{height - pad - v / top * (height - 2 * pad):.1f}" r="3"/>'
                   for i, v in enumerate(samples))
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><text x="{pad}" y="16">time to first reply per run (s), max {top / 1.1:.3f}</text>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>'
        f'<text x="4" y="{pad + 4}">{top:.2f}</text><text x="4" y="{height - pad}">0</text>'
        f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">run {len(samples)}</text>'
        f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{points}"/>'
        f'<g fill="#1565c0">{dots}</g></svg>\n')


def _diff(start: float | None, end: float | None) -> float | None:
    return round(end - start, 4) if start is not None and end is not None else None
