"""A failed test's timeline as a self-contained HTML sequence view (and its JSON record): browser, proxy and
upstream as three lanes, each frame an arrow with its time offset, type, kind, size and a short summary, the
full JSON one click away, the failing requirement's frames highlighted. No scripts, no network: works from
file://."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from voice_harness.wire.recording import Frame

TEXT_PREVIEW_CHARS = 120
HEX_PREVIEW_BYTES = 16
PCM16_BYTES_PER_MS = 48   # 24 kHz mono, 2 bytes a sample
AUDIO_FIELDS = {"input_audio_buffer.append": "audio", "response.output_audio.delta": "delta"}

# (from lane, to lane) for each leg and direction; lanes: 0 browser, 1 proxy, 2 upstream.
_LANES = {("A", "->"): (0, 1), ("A", "<-"): (1, 0), ("B", "->"): (1, 2), ("B", "<-"): (2, 1)}
_CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.2em;margin:0 0 .3em} .reason{background:#fde8e8;border-left:4px solid #c62828;padding:.5em .8em}
.row{display:grid;grid-template-columns:6em 1fr 1fr;align-items:center;border-bottom:1px solid #eee}
.row.hl{background:#fff3c4} .t{color:#666;font-variant-numeric:tabular-nums;text-align:right;padding-right:.8em}
.lanes{display:grid;grid-template-columns:1fr 1fr;grid-column:2/4;position:relative;min-height:1.8em}
.arrow{grid-row:1;padding:.15em .4em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.right{border-bottom:2px solid #1565c0;text-align:left} .left{border-bottom:2px solid #2e7d32;text-align:right}
.close{border-bottom-style:dashed;border-color:#c62828;color:#c62828;font-weight:600}
.bin{color:#6a1b9a} .head{position:sticky;top:0;background:#fafafa;font-weight:600;z-index:1}
.head .lanes{grid-template-columns:1fr 1fr 1fr;grid-column:2/4} details{grid-column:2/4;margin:0 0 .3em 1em}
pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:20em;margin:.2em 0}
.problems{color:#c62828}
"""


def summary(frame: Frame) -> str:
    """A short description of the frame's payload; for a binary frame or a text frame that is not JSON, a bounded
    preview of what was on the wire."""
    if frame.kind == "close":
        return f"code {frame.data.get('code')} {frame.data.get('reason') or ''}".rstrip()
    if frame.kind == "binary":
        return binary_preview(frame)
    if frame.preview is not None:
        return text_preview(frame)
    data = frame.data if isinstance(frame.data, dict) else {}
    audio = data.get(AUDIO_FIELDS.get(frame.type or "", ""))
    if isinstance(audio, str):   # base64 PCM16: what it lasts, not its bytes
        size = len(audio) * 3 // 4 - audio[-2:].count("=")
        return f"audio {size / PCM16_BYTES_PER_MS:.1f} ms ({size} bytes at 24 kHz PCM16)"
    for key in ("content", "delta", "transcript", "code", "name", "arguments"):
        if isinstance(data.get(key), str):
            return f"{key}: {data[key][:60]}"
    if frame.item_id:
        return f"item {frame.item_id}"
    return ""


def text_preview(frame: Frame) -> str:
    """A text frame that is not JSON: its size and first characters, escaped: "(not JSON, 3 bytes) 'oh!'"."""
    shown = frame.preview[:TEXT_PREVIEW_CHARS]
    more = "..." if len(shown.encode()) < frame.size else ""
    return f"(not JSON, {frame.size} bytes) {shown!r}{more}"


def binary_preview(frame: Frame) -> str:
    """A binary frame: its size, its duration when it can be PCM16 audio, and its first bytes in hex, e.g.
    '960 bytes = 20.0 ms at 24 kHz PCM16: 01 08 0f ...'."""
    text = f"{frame.size} bytes"
    if frame.size and frame.size % 2 == 0:
        text += f" = {frame.size / PCM16_BYTES_PER_MS:.1f} ms at 24 kHz PCM16"
    if isinstance(frame.data, bytes) and frame.data:
        text += ": " + frame.data[:HEX_PREVIEW_BYTES].hex(" ") + (" ..." if frame.size > HEX_PREVIEW_BYTES else "")
    return text


def render_html(title: str, frames: list[Frame], origin: float, highlight: list[Frame], reason: str) -> str:
    marked = {id(f) for f in highlight}
    rows = ['<div class="row head"><div class="t">t (s)</div><div class="lanes" style="display:grid">'
            '<div>browser</div><div style="text-align:center">proxy</div><div style="text-align:right">upstream'
            '</div></div></div>']
    for frame in frames:
        start, end = _LANES.get((frame.leg, frame.arrow), (1, 1))
        lane = min(start, end)  # 0: between browser and proxy, 1: between proxy and upstream
        direction = "right" if end > start else "left"
        classes = [direction] + (["close"] if frame.kind == "close" else []) + (["bin"] if frame.kind == "binary" else [])
        what = "close" if frame.kind == "close" else frame.type or frame.kind
        label = f"{html.escape(what)}{' (' + html.escape(frame.role) + ')' if frame.role else ''}"
        tip = html.escape(summary(frame))
        arrow = "&rarr;" if direction == "right" else "&larr;"
        cell = (f'<div class="arrow {" ".join(classes)}" style="grid-column:{lane + 1}" title="{tip}">'
                f'{arrow} {label} <small>{frame.kind}, {frame.size} B{", " + tip if tip else ""}</small></div>')
        hl = " hl" if id(frame) in marked else ""
        rows.append(f'<div class="row{hl}"><div class="t">{frame.t - origin:.3f}</div>'
                    f'<div class="lanes">{cell}</div>{_details(frame)}</div>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='reason'>{html.escape(reason)}</p>"
            f"<p>Leg A: browser &harr; proxy (client tap). Leg B: proxy &harr; upstream. "
            f"Highlighted: the frames the failing check points at. Click a row's details for the full JSON.</p>"
            + "".join(rows) + "</body></html>")


def _details(frame: Frame) -> str:
    problems = frame.note.get("problems")
    extra = f"<div class='problems'>{html.escape('; '.join(problems))}</div>" if problems else ""
    body = json.dumps(frame.to_json(), indent=2, default=str)
    return f"<details><summary>json</summary>{extra}<pre>{html.escape(body)}</pre></details>"


def safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", nodeid).strip("_")[:180]


def write(directory: Path, nodeid: str, frames: list[Frame], origin: float, highlight: list[Frame],
          reason: str) -> Path:
    """Write <nodeid>.html and <nodeid>.json; the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    name = safe_name(nodeid)
    marked = {id(f) for f in highlight}
    record = {"test": nodeid, "reason": reason, "origin": origin,
              "frames": [dict(f.to_json(), summary=summary(f), highlighted=id(f) in marked) for f in frames]}
    (directory / f"{name}.json").write_text(json.dumps(record, indent=1, default=str))
    path = directory / f"{name}.html"
    path.write_text(render_html(nodeid, frames, origin, highlight, reason))
    return path
