"""What a failed test leaves for the person reading the report, besides its timeline: the browser console,
the mock upstream's transcript, the proxy log tail, a screenshot at the moment of failure and a Playwright
trace. Each is attached to the Allure result; the texts are built here from records, apart from the hooks
that attach them."""

from __future__ import annotations

import dataclasses
import json
import wave
from pathlib import Path

import allure

from voice_harness.wire.recording import PROXY_TO_UPSTREAM, UPSTREAM_LEG, Frame

from voice_harness.judging.timeline import appended_audio
from voice_harness.reports.timeline_view import summary
from voice_harness.timeouts import units

# pytest-playwright's user properties on the teardown report, and how each is attached.
PLAYWRIGHT_ARTIFACTS = {
    "playwright_screenshot": ("screenshot (Playwright, at the end of the test)", allure.attachment_type.PNG),
    "playwright_trace": ("trace (Playwright; open with `playwright show-trace`)", "application/zip"),
}


def mock_transcript(frames: list[Frame], origin: float, scenario=None) -> str:
    """The upstream leg as the mock saw it: the scenario in force, then one line per frame with the mock's
    own notes (rejections, validation problems)."""
    lines = []
    if scenario is not None:
        fields = {f.name: getattr(scenario, f.name) for f in dataclasses.fields(scenario)}
        lines.append(f"scenario {fields.pop('name')}: {fields.pop('description')}")
        lines.append("  " + json.dumps(fields, default=str, sort_keys=True))
    upstream = [f for f in frames if f.leg == UPSTREAM_LEG]
    if not upstream:
        lines.append("(no upstream frames in this test)")
    for frame in upstream:
        who = "proxy -> mock" if frame.route == PROXY_TO_UPSTREAM else "mock -> proxy"
        line = f"{frame.t - origin:8.3f}s  conn {frame.conn}  {who}  {frame.label().split(' ', 1)[1]}"
        detail = summary(frame)
        if detail:
            line += f"  [{detail}]"
        if frame.note:
            line += f"  note: {json.dumps(frame.note, default=str)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def console_text(messages: list[str]) -> str:
    return "\n".join(messages) + "\n" if messages else "(the page logged nothing)\n"


def attach_text(text: str, name: str) -> None:
    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def screenshot(page, path: Path) -> Path | None:
    """The page as it is when the test failed (taken then, not for every test), saved and attached."""
    try:
        page.screenshot(path=str(path), timeout=units(5) * 1000)
    except Exception:  # a page that crashed or closed has no picture; the timeline still tells the story
        return None
    allure.attach.file(str(path), name="screenshot at failure", attachment_type=allure.attachment_type.PNG)
    return path


def attach_trace(path: Path) -> str:
    name, kind = PLAYWRIGHT_ARTIFACTS["playwright_trace"]
    allure.attach.file(str(path), name=name, attachment_type=kind, extension="zip")
    return str(path)


def attach_playwright_artifacts(user_properties: list[tuple[str, str]], invocation_dir: Path) -> list[str]:
    """Attach the trace and screenshot pytest-playwright kept for a failed test; their paths."""
    kept = []
    for key, value in user_properties:
        if key not in PLAYWRIGHT_ARTIFACTS:
            continue
        path = Path(value) if Path(value).is_absolute() else invocation_dir / value
        if path.is_file():
            name, kind = PLAYWRIGHT_ARTIFACTS[key]
            allure.attach.file(str(path), name=name, attachment_type=kind,
                               extension=None if kind == allure.attachment_type.PNG else "zip")
            kept.append(str(path))
    return kept


def write_wav(path: Path, pcm: bytes, rate: int) -> Path:
    """PCM16 mono as a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm[: len(pcm) - len(pcm) % 2])
    return path


def attach_voice(spoken, frames: list[Frame], directory: Path, name: str) -> list[Path]:
    """A failed voice test's audio: the WAV that was spoken, and what the upstream received (at the session's
    rate, the spoken one's), attached to its Allure result as audio/wav."""
    received = write_wav(directory / f"{name}-upstream.wav", appended_audio(frames), spoken.rate)
    titles = ((spoken.path, "the WAV spoken as the microphone"), (received, "the audio the upstream received"))
    for path, title in titles:
        allure.attach.file(str(path), name=title, attachment_type="audio/wav", extension="wav")
    return [spoken.path, received]
