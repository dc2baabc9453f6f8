"""Where the harness writes: reports in the user's working directory, tools in the user's cache; never into
the folder the harness is installed in."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "VOICE_HARNESS_CACHE"


def default_reports() -> Path:
    """reports/ in the current directory: a run's reports belong to whoever ran it, where they ran it."""
    return Path.cwd() / "reports"


def cache_dir() -> Path:
    """The harness's cache (the Allure tool): $VOICE_HARNESS_CACHE, else $XDG_CACHE_HOME/voice-harness, else
    ~/.cache/voice-harness."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voice-harness"
