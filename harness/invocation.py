"""How the harness was called, and what the CLI shares with the commands it runs: a module of its own so that no
command (bench, the HTML report, the merge) imports the CLI back."""

from __future__ import annotations

import sys
from pathlib import Path

# `voice-harness bench --groups`: the CLI checks them, bench measures them.
BENCH_GROUPS = ("suite", "fixed", "overhead", "precision", "load", "voice", "unit", "fresh-clone", "ci")
# `ci` runs make test on a fresh clone (half an hour on 2 cores): measured when asked for, not by default.
DEFAULT_BENCH_GROUPS = tuple(g for g in BENCH_GROUPS if g != "ci")


def program() -> str:
    """How the user called the harness, to repeat in a message: its console script's name (`voice-harness`), or
    `python -m voice_harness` (`python -m harness` in a checkout)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if name and name not in ("__main__.py", "-c") and not name.endswith(".py"):
        return name
    return f"python -m {sys.modules['__main__'].__spec__.name.removesuffix('.__main__')}" \
        if getattr(sys.modules.get("__main__"), "__spec__", None) else "python -m voice_harness"
