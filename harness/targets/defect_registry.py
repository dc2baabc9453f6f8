"""The reference proxy's known defects as data (reference_proxy/defects.toml), read without importing the proxy:
the harness passes `--defect NAME` on through the profile's defect_args, and the sensitivity tool reads what each
defect must turn red."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from voice_harness import paths
from voice_harness.errors import EnvironmentProblem


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    breaks: tuple[str, ...]                 # the requirements it must turn red
    collateral: tuple[str, ...] = ()        # others that go red too, for collateral_reason
    collateral_reason: str = ""
    stays_green: tuple[str, ...] = ()       # a correct variant (breaks empty): the ids it must keep green


def registry_path() -> Path:
    """Where the reference proxy's defects.toml is (found, not imported)."""
    return paths.bundled("defects") / "defects.toml"


@cache
def load(path: Path | None = None) -> dict[str, Defect]:
    """Every defect of the registry, by name, in the file's order."""
    source = path or registry_path()
    try:
        entries = tomllib.loads(source.read_text())["defect"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise EnvironmentProblem(f"the defect registry {source} cannot be read: {exc}") from None
    return {e["name"]: Defect(e["name"], e["description"], tuple(e["breaks"]), tuple(e.get("collateral", ())),
                              e.get("collateral_reason", ""), tuple(e.get("stays_green", ()))) for e in entries}
