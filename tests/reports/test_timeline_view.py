"""The HTML timeline of a failed test: pure rendering, and the file a real failing run leaves behind."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from voice_harness.reports.timeline_view import render_html, write
from voice_harness.wire.recording import PREVIEW_CHARS, Frame, Recorder

ROOT = Path(__file__).resolve().parents[2]


def test_frames_become_arrows_between_lanes_with_the_anchors_highlighted():
    frames = [Frame(1.0, "A", "->", "text", "InjectUserMessage", data={"type": "InjectUserMessage", "content": "hi"}),
              Frame(1.1, "B", "->", "text", "response.create", data={"type": "response.create"}),
              Frame(3.8, "B", "<-", "close", data={"code": 1000, "reason": ""})]
    page = render_html("t", frames, 0.5, [frames[1], frames[2]], "CANARY-1: <no reply>")
    assert page.count('class="row hl"') == 2
    assert "&rarr; response.create" in page and "&larr; close" in page and "code 1000" in page
    assert "content: hi" in page and "&lt;no reply&gt;" in page and "<script" not in page
    assert ">0.600<" in page and ">3.300<" in page


def test_frames_that_are_not_json_show_a_preview_of_what_was_on_the_wire(tmp_path):
    recorder = Recorder()
    text = recorder.text("B", "->", 1, 'oops <b>"not json"</b>\n')
    audio = recorder.binary("A", "->", 1, bytes(range(1, 241)) * 4)
    odd = recorder.binary("A", "->", 1, b"\x00\xff\x10")
    page = render_html("t", [text, audio, odd], 0.0, [], "r")
    assert "(not JSON, 23 bytes) &#x27;oops &lt;b&gt;&quot;not json&quot;&lt;/b&gt;\\n&#x27;" in page
    assert "<b>" not in page
    assert "960 bytes = 20.0 ms at 24 kHz PCM16: 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 ..." in page
    assert "3 bytes: 00 ff 10<" in page   # an odd size is no PCM16
    record = json.loads(write(tmp_path, "t", [text, audio], 0.0, [], "r").with_suffix(".json").read_text())
    assert [f["summary"] for f in record["frames"]] == [
        "(not JSON, 23 bytes) 'oops <b>\"not json\"</b>\\n'",
        "960 bytes = 20.0 ms at 24 kHz PCM16: 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 ..."]
    assert record["frames"][0]["preview"] == 'oops <b>"not json"</b>\n'


def test_a_huge_frame_that_is_not_json_keeps_and_shows_only_a_short_preview(tmp_path):
    frame = Recorder().text("B", "<-", 1, "x" * 10_000_000)
    assert frame.size == 10_000_000 and frame.data is None and len(frame.preview) == PREVIEW_CHARS
    page = render_html("t", [frame], 0.0, [], "r")
    assert len(page) < 10_000
    assert f"(not JSON, 10000000 bytes) &#x27;{'x' * 120}&#x27;..." in page
    record = write(tmp_path, "t", [frame], 0.0, [], "r").with_suffix(".json").read_text()
    assert len(record) < 10_000


@pytest.mark.e2e
def test_a_failing_canary_leaves_a_timeline_showing_the_premature_create_and_the_close(tmp_path):
    subprocess.run([sys.executable, "-m", "harness", "run", "--defect", "premature-response-create",
                    "--reports-dir", str(tmp_path), "--", "--req", "CANARY-1", "-k", "first_text"],
                   cwd=ROOT, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    pages = list((tmp_path / "timelines").glob("*first_text*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "&rarr; response.create" in page and "upstream closed 1000" in page
    record = json.loads(pages[0].with_suffix(".json").read_text())
    kinds = [(f["leg"], f["arrow"], f["type"] or f["kind"]) for f in record["frames"]]
    premature = kinds.index(("B", "->", "response.create"))
    confirmed = kinds.index(("B", "<-", "conversation.item.added"))
    assert premature < confirmed
    assert [f for f in record["frames"] if f["highlighted"]][-1]["kind"] == "close"
    failure = json.loads((tmp_path / "conformance.json").read_text())["failures"][0]
    assert (failure["phase"], failure["close_code"], failure["closed_first"]) == (
        "awaiting reply", 1000, "upstream closed")


@pytest.mark.e2e
def test_the_failure_reaches_allure_with_requirement_labels_and_attachments(tmp_path):
    subprocess.run([sys.executable, "-m", "harness", "run", "--defect", "premature-response-create",
                    "--reports-dir", str(tmp_path), "--", "--req", "CANARY-1", "-k", "first_text"],
                   cwd=ROOT, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure-results").glob("*-result.json")]
    assert len(results) == 1
    labels = {label["name"]: label["value"] for label in results[0]["labels"]}
    assert (labels["parentSuite"], labels["suite"], labels["severity"]) == ("canary", "CANARY-1", "critical")
    assert {a["name"] for a in results[0]["attachments"]} >= {"timeline of both legs", "proxy log (tail)"}
    environment = (tmp_path / "allure-results" / "environment.properties").read_text()
    assert "defect=premature-response-create" in environment and "upstream=mock" in environment
    assert re.search(r"^browser=\S*Chrom\S* \d+\.", environment, re.M), environment


@pytest.mark.e2e
def test_on_request_every_test_leaves_its_timeline_not_only_the_failed_ones(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--timelines", "all", "--reports-dir",
                           str(tmp_path), "--", "--req", "READY-1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:]
    passed = int(re.search(r"^=+ (\d+) passed", done.stdout, re.M)[1])  # pytest's own summary line
    pages = sorted((tmp_path / "timelines").glob("*.html"))
    assert len(pages) == passed >= 1
    for page in pages:
        text = page.read_text()
        assert "&rarr; session.update" in text and "class=\"row hl\"" not in text


def test_audio_in_json_events_is_shown_as_its_duration_not_its_bytes():
    import base64

    from voice_harness.reports.timeline_view import summary
    from voice_harness.wire.recording import Frame
    audio = base64.b64encode(bytes(960)).decode()
    append = Frame(0.0, "B", "->", "text", "input_audio_buffer.append", 1,
                   data={"type": "input_audio_buffer.append", "audio": audio})
    delta = Frame(0.0, "B", "<-", "text", "response.output_audio.delta", 1,
                  data={"type": "response.output_audio.delta", "delta": audio[:-4]})
    assert summary(append) == "audio 20.0 ms (960 bytes at 24 kHz PCM16)"
    assert summary(delta) == "audio 19.9 ms (957 bytes at 24 kHz PCM16)"
