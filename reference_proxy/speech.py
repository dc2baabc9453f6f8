"""End of speech by energy in the client's audio, for a proxy that owns turn detection (client-turn-detection).

PCM16 mono 24 kHz in frames of any length; the RMS of each 20 ms window above THRESHOLD is speech (the same
measure and threshold as the mock's server VAD, mock_upstream/vad.py, so both hear the same utterances). An
utterance ends after SILENCE_MS of windows below it. Pure: no clock, only the audio.
"""

from __future__ import annotations

import math
import sys
from array import array

RATE = 24000
WINDOW_MS = 20
THRESHOLD = 300          # RMS of 16-bit samples; the mock's vad.THRESHOLD (a test holds them equal)
SILENCE_MS = 500         # the service's default silence_duration_ms
WINDOW_BYTES = RATE * WINDOW_MS // 1000 * 2


def rms(pcm: bytes) -> float:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":   # PCM16 on the wire is little-endian
        samples.byteswap()
    return math.sqrt(sum(v * v for v in samples) / len(samples)) if samples else 0.0


class EndOfSpeech:
    """Listens to one connection's audio: `heard` says whether speech came since the last reset; feed() says
    whether an utterance ended (speech, then SILENCE_MS of silence) in the audio just fed."""

    def __init__(self, threshold: float = THRESHOLD, silence_ms: int = SILENCE_MS):
        self.threshold, self.silence_ms = threshold, silence_ms
        self.heard = False
        self._quiet_ms = 0
        self._pending = b""      # the start of a window not yet whole

    def feed(self, pcm: bytes) -> bool:
        data = self._pending + pcm
        whole = len(data) - len(data) % WINDOW_BYTES
        self._pending = data[whole:]
        ended = False
        for start in range(0, whole, WINDOW_BYTES):
            if rms(data[start:start + WINDOW_BYTES]) > self.threshold:
                self.heard, self._quiet_ms = True, 0
            elif self.heard:
                self._quiet_ms += WINDOW_MS
                if self._quiet_ms >= self.silence_ms:
                    ended = True
        return ended

    def reset(self) -> None:
        """The utterance was taken (committed, or dropped): listen for the next one."""
        self.heard, self._quiet_ms = False, 0
