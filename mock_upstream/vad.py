"""Speech and silence by energy in PCM16 mono audio: pure functions shared by the mock's server VAD and the
voice checks (which compare what the upstream received with what the WAV says)."""

from __future__ import annotations

import array
import math
import sys

WINDOW_MS = 20
THRESHOLD = 300          # RMS of 16-bit samples above which a window is speech (espeak speech: thousands)


def samples(pcm: bytes) -> array.array:
    values = array.array("h")
    values.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":   # PCM16 on the wire is little-endian
        values.byteswap()
    return values


def rms(pcm: bytes) -> float:
    values = samples(pcm)
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


def windows(pcm: bytes, rate: int, window_ms: int = WINDOW_MS) -> list[float]:
    """The RMS of each whole window of audio."""
    size = rate * window_ms // 1000 * 2
    return [rms(pcm[i:i + size]) for i in range(0, len(pcm) - size + 1, size)]


def speech_spans(pcm: bytes, rate: int, threshold: float = THRESHOLD, silence_ms: int = 300,
                 window_ms: int = WINDOW_MS) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech: windows above threshold, gaps shorter than silence_ms
    bridged."""
    spans: list[list[float]] = []
    for index, level in enumerate(windows(pcm, rate, window_ms)):
        if level <= threshold:
            continue
        start, end = index * window_ms / 1000, (index + 1) * window_ms / 1000
        if spans and start - spans[-1][1] < silence_ms / 1000:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(a, b) for a, b in spans]


def speech_seconds(pcm: bytes, rate: int, threshold: float = THRESHOLD) -> float:
    return sum(b - a for a, b in speech_spans(pcm, rate, threshold, silence_ms=0))
