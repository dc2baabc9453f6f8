"""Spoken utterances for the voice tests: WAV files made by espeak-ng and sox, padded with silence, at the rate
a test needs, cached between runs (in the harness's cache folder, keyed by text and rate).

Chromium loses the first 10-50 ms of a fake capture file, so every utterance starts with LEAD_S of silence;
TAIL_S of silence after it lets a server VAD hear the end of speech before the file runs out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from voice_harness import paths
from voice_harness.errors import EnvironmentProblem

TOOLS = ("espeak-ng", "sox")
LEAD_S, TAIL_S = 0.3, 0.8
# What the suites say; the reply does not depend on it (the mock answers with its scripted transcript).
UTTERANCES = {"first": "Hello agent."}
HOW_TO_GET = ("install them (Debian: `apt-get install espeak-ng sox`; `voice-harness setup-speech` does it as root "
              "and makes the utterances)")


@dataclass(frozen=True)
class Utterance:
    name: str
    text: str
    path: Path
    rate: int
    samples: bytes          # PCM16 mono, the whole file (silence included)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / 2 / self.rate


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def utterance(name: str, rate: int = 24000, cache: Path | None = None) -> Utterance:
    """The named utterance as a padded WAV at `rate` (made once, then read from the cache)."""
    text = UTTERANCES[name]
    key = hashlib.sha256(f"{text}|{rate}|{LEAD_S}|{TAIL_S}".encode()).hexdigest()[:12]
    folder = (cache or paths.cache_dir()) / "speech"
    path = folder / f"{name}-{rate}-{key}.wav"
    if not path.is_file():
        _make(text, rate, path)
    with wave.open(str(path), "rb") as wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, rate):
            raise EnvironmentProblem(f"{path} is not PCM16 mono at {rate} Hz: delete it and run again")
        samples = wav.readframes(wav.getnframes())
    return Utterance(name, text, path, rate, samples)


def _make(text: str, rate: int, path: Path) -> None:
    missing = missing_tools()
    if missing:
        raise EnvironmentProblem(f"the voice tests speak through {' and '.join(missing)}, which this machine lacks: "
                                 f"{HOW_TO_GET}")
    path.parent.mkdir(parents=True, exist_ok=True)
    spoken, padded = path.with_suffix(f".{os.getpid()}.raw.wav"), path.with_suffix(f".{os.getpid()}.tmp.wav")
    try:
        for argv in (["espeak-ng", "-w", str(spoken), text],
                     ["sox", str(spoken), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(padded),
                      "pad", str(LEAD_S), str(TAIL_S)]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise EnvironmentProblem(f"`{argv[0]}` could not make the utterance ({done.returncode}): "
                                         f"{(done.stderr or done.stdout).strip()[:200]}")
        padded.replace(path)
    finally:
        spoken.unlink(missing_ok=True)
        padded.unlink(missing_ok=True)
