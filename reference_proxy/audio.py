"""Client microphone audio to the session's input format (WIRE-2): PCM16 mono at 24 kHz.

The client declares its format in Settings.audio.input. At the session's rate the bytes pass through unchanged;
at another rate they are resampled by linear interpolation, so the upstream hears the same duration. Frames
need not hold whole samples (CLI-3): an odd trailing byte waits for the next frame.
"""

from __future__ import annotations

import sys
from array import array

SESSION_RATE = 24000
SAMPLE_BYTES = 2


class AudioInput:
    """The converter for one connection's client audio: bytes in the declared rate, PCM16 24 kHz bytes out."""

    def __init__(self, from_rate: int = SESSION_RATE, to_rate: int = SESSION_RATE):
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.from_rate, self.to_rate = from_rate, to_rate
        self._carry = b""          # an odd trailing byte of the last frame
        self._inputs = 0           # input samples taken so far
        self._outputs = 0          # output samples made so far

    @classmethod
    def declared(cls, audio_input: object) -> AudioInput:
        """The converter for a Settings.audio.input value. Without a usable linear16 rate the bytes pass through
        as they are: PCM16 at the session's rate is what this proxy family is given when nothing is declared, and
        another encoding is not ours to convert."""
        declared = audio_input if isinstance(audio_input, dict) else {}
        rate = declared.get("sample_rate")
        if declared.get("encoding", "linear16") != "linear16" or isinstance(rate, bool) or \
                not isinstance(rate, int) or rate <= 0:
            rate = SESSION_RATE
        return cls(rate)

    def convert(self, data: bytes) -> bytes:
        data = self._carry + data
        whole = len(data) - len(data) % SAMPLE_BYTES
        data, self._carry = data[:whole], data[whole:]
        if self.from_rate == self.to_rate or not data:
            return data
        out = self._resample(_samples(data))
        if sys.byteorder != "little":
            out.byteswap()
        return out.tobytes()

    def _resample(self, samples: array) -> array:
        """Output sample k sits at input position k * from / to, in exact integers, so nothing drifts across
        frames: after n input samples, ceil(n * to / from) output samples have been made (the same duration)."""
        before = self._inputs
        self._inputs += len(samples)
        last = len(samples) - 1
        frm, to = self.from_rate, self.to_rate
        out = array("h")
        k = self._outputs
        while k * frm < self._inputs * to:
            index, remainder = divmod(k * frm, to)
            index -= before  # always in this frame: the previous frame's outputs covered its whole span
            left = samples[index]
            # Past the last sample received the next one is not known yet: hold the last one.
            right = samples[min(index + 1, last)]
            out.append(left + (right - left) * remainder // to)
            k += 1
        self._outputs = k
        return out


def _samples(data: bytes) -> array:
    samples = array("h")
    samples.frombytes(data)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples
