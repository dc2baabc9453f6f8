"""The requirement catalogue, read from requirements.toml (the one place an id is defined)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("requirements.toml")
LEVELS = ("MUST", "SHOULD")
CATALOGUE_VERSION = 3   # of PROTOCOL.md section 5, which requirements.toml follows


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    area: str
    text: str
    guards: str = ""
    within_s: float | None = None
    invariant: bool = False   # checked on every recorded session, not only in the id's own tests
    planned: str = ""         # why the id has no test yet: untested by design, out of the sensitivity matrix


@lru_cache(maxsize=None)
def load(path: Path = CATALOGUE_PATH) -> dict[str, Requirement]:
    """All requirements by id, in catalogue order."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    result: dict[str, Requirement] = {}
    for entry in data["requirement"]:
        req = Requirement(**entry)
        if req.level not in LEVELS:
            raise ValueError(f"{path}: {req.id}: level must be one of {LEVELS}")
        if req.id in result:
            raise ValueError(f"{path}: duplicate requirement id {req.id}")
        result[req.id] = req
    return result


def get(req_id: str) -> Requirement:
    return load()[req_id]


def planned() -> list[str]:
    """The ids of the catalogue that no suite tests yet (each says why)."""
    return [rid for rid, req in load().items() if req.planned]


def invariants() -> list[str]:
    """The ids checked on every recorded session of every test."""
    return [rid for rid, req in load().items() if req.invariant]
