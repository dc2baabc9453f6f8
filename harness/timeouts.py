"""One timeout unit for every wait in the harness, scaled by one environment variable.

Slow CI machines set HARNESS_TIMEOUT_SCALE=2 (or more) instead of editing timeouts.
Requirement bounds from the catalogue (the canary's 15 s) are not scaled: they are
part of the requirement, not of the test machinery.
"""

import os

SCALE_ENV = "HARNESS_TIMEOUT_SCALE"


def scale() -> float:
    raw = os.environ.get(SCALE_ENV, "1")
    try:
        value = float(raw)
    except ValueError:
        value = 1.0
    return value if value > 0 else 1.0


def units(n: float) -> float:
    """n timeout units, in seconds (one unit is one second on an unscaled machine)."""
    return n * scale()
