"""Secrets never reach a record, log or report: API keys and bearer tokens are replaced where text is kept."""

from __future__ import annotations

import os
import re

_PATTERNS = (
    (re.compile(r"sk-[A-Za-z0-9_\-]{6,}"), "sk-[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]+"), r"\1[redacted]"),
)
KEY_ENV = "OPENAI_API_KEY"


def redact(text: str) -> str:
    key = os.environ.get(KEY_ENV)
    if key and len(key) >= 6:
        text = text.replace(key, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
