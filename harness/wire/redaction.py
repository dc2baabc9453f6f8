"""Secrets never reach a record, log or report: API keys and bearer tokens are replaced where text is kept.

Three kinds are replaced: any ``sk-…`` key, the token after ``Bearer``, and the value of every environment
variable that holds a secret: ``OPENAI_API_KEY`` and any name ending ``_API_KEY`` whatever its length, and
any name ending ``_TOKEN`` or ``_SECRET`` from 8 characters (shorter ones there are flags and counts). A value of fewer than ``SHORT_KEY`` characters is replaced only as a whole token (no
letter or digit on either side): otherwise a one-letter key would blank out that letter everywhere. A short
key glued to letters or digits is therefore kept; no real key is that short.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from functools import lru_cache

# (pattern, replacement, a word any match contains in lower case: without it in the text, no search is needed)
_PATTERNS = (
    (re.compile(r"sk-[A-Za-z0-9_\-]{6,}"), "sk-[redacted]", "sk-"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]+"), r"\1[redacted]", "bearer"),
)
KEY_ENV = "OPENAI_API_KEY"
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")
SHORT_KEY = 6  # values shorter than this are replaced only as whole tokens
OTHER_MIN = 8  # a *_TOKEN or *_SECRET value shorter than this is no secret (a flag, a count)


def secret_values(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of the environment's secret-holding variables (stripped, none empty), longest first. An API
    key (OPENAI_API_KEY, *_API_KEY) counts whatever its length; a *_TOKEN or *_SECRET only from OTHER_MIN
    characters: such names also hold flags and counts (HF_HUB_DISABLE_IMPLICIT_TOKEN=1), no secret."""
    env = os.environ if env is None else env
    values = set()
    for name, value in env.items():
        value, upper = value.strip(), name.upper()
        if name == KEY_ENV or upper.endswith("_API_KEY") or (upper.endswith(SECRET_SUFFIXES)
                                                              and len(value) >= OTHER_MIN):
            values.add(value)
    return tuple(sorted((v for v in values if v), key=lambda v: (-len(v), v)))


_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


@lru_cache(maxsize=64)
def _short_value(value: str) -> re.Pattern:
    """A short value with no letter or digit after it (the one before is checked by _short_matches: a
    lookbehind first would make the search slow)."""
    return re.compile(rf"{re.escape(value)}(?![A-Za-z0-9])")


def _short_matches(value: str, text: str) -> Iterator[re.Match]:
    """The value's occurrences in text as a whole token: no letter or digit on either side."""
    for match in _short_value(value).finditer(text):
        if match.start() == 0 or text[match.start() - 1] not in _ALNUM:
            yield match


def _present(text: str, env: Mapping[str, str] | None) -> tuple[list[str], list[tuple[re.Pattern, str]]]:
    """The environment's values found in text (longest first), and the patterns that may match in it."""
    values = [value for value in secret_values(env) if value in text]
    lower = text.lower()
    return values, [(pattern, replacement) for pattern, replacement, hint in _PATTERNS if hint in lower]


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """text with every secret replaced; env: where the keys are read (default: this process's environment)."""
    values, patterns = _present(text, env)
    for value in values:  # longest first: a key that contains another is replaced whole
        if len(value) >= SHORT_KEY:
            text = text.replace(value, "[redacted]")
        else:
            parts, at = [], 0
            for match in _short_matches(value, text):
                parts += [text[at:match.start()], "[redacted]"]
                at = match.end()
            text = "".join(parts) + text[at:]
    for pattern, replacement in patterns:
        text = pattern.sub(replacement, text)
    return text


def secret_spans(text: str, env: Mapping[str, str] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of every secret redact would replace in text (spans of different kinds may overlap)."""
    values, patterns = _present(text, env)
    for value in values:
        if len(value) < SHORT_KEY:
            yield from (match.span() for match in _short_matches(value, text))
            continue
        at = text.find(value)
        while at >= 0:
            yield at, at + len(value)
            at = text.find(value, at + 1)
    for pattern, _ in patterns:
        for match in pattern.finditer(text):
            yield match.span()


def redact_parsed(data: Any, raw: str) -> Any:
    """The JSON parsed from raw with every string in it redacted; data itself when raw holds no secret (the
    usual case: one look at the raw text)."""
    values, patterns = _present(raw, None)
    return redact_strings(data) if values or patterns else data


def redact_strings(data: Any) -> Any:
    """Parsed JSON with every string in it redacted (numbers, keys and structure stay as they are)."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {key: redact_strings(value) for key, value in data.items()}
    if isinstance(data, list):
        return [redact_strings(value) for value in data]
    return data
