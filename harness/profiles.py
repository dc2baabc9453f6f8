"""Target profiles (TOML): how to start or reach the proxy under test.

A profile error names the file and the key, in one line, so the CLI can print it
and exit 2.
"""

from __future__ import annotations

import re
import string
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageProblem

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
PLACEHOLDERS = {"python", "port", "upstream_url", "defect"}

_TOP_KEYS = {"description", "proxy"}
_PROXY_KEYS = {"command", "defect_args", "path", "ready_log", "ready_timeout_s", "env"}


@dataclass(frozen=True)
class ProxySpec:
    command: tuple[str, ...]
    defect_args: tuple[str, ...] = ()
    path: str = "/openai"
    ready_log: str | None = None
    ready_timeout_s: float = 20.0
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, port: int, upstream_url: str, defect: str | None) -> list[str]:
        values = {"python": sys.executable, "port": str(port), "upstream_url": upstream_url, "defect": defect or ""}
        parts = list(self.command) + (list(self.defect_args) if defect else [])
        return [part.format(**values) for part in parts]


@dataclass(frozen=True)
class Profile:
    name: str
    source: Path
    description: str
    proxy: ProxySpec

    @property
    def can_switch_defects(self) -> bool:
        return bool(self.proxy.defect_args)


def names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise UsageProblem(f"profile file {name_or_path} not found")
        return path
    candidate = PROFILE_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise UsageProblem(f"unknown profile {name_or_path!r}: use one of {', '.join(names())} "
                           f"or a path to a .toml file")
    return candidate


def load(name_or_path: str) -> Profile:
    path = resolve(name_or_path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UsageProblem(f"{path}: not valid TOML: {exc}") from None
    _no_unknown(data, _TOP_KEYS, path, "")
    proxy = data.get("proxy")
    if not isinstance(proxy, dict):
        raise UsageProblem(f"{path}: missing table [proxy]")
    _no_unknown(proxy, _PROXY_KEYS, path, "proxy.")
    command = _str_list(proxy.get("command"), path, "proxy.command", required=True)
    defect_args = _str_list(proxy.get("defect_args", []), path, "proxy.defect_args")
    for key, parts in (("proxy.command", command), ("proxy.defect_args", defect_args)):
        for part in parts:
            _check_placeholders(part, path, key)
    if "{port}" not in " ".join(command):
        raise UsageProblem(f"{path}: proxy.command must contain {{port}} so the harness can pick a free port")
    env = proxy.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise UsageProblem(f"{path}: proxy.env must be a table of strings")
    ready_log = proxy.get("ready_log")
    if ready_log is not None:
        try:
            re.compile(ready_log)
        except re.error as exc:
            raise UsageProblem(f"{path}: proxy.ready_log is not a valid regex: {exc}") from None
    timeout = proxy.get("ready_timeout_s", 20.0)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise UsageProblem(f"{path}: proxy.ready_timeout_s must be a positive number")
    path_value = proxy.get("path", "/openai")
    if not isinstance(path_value, str) or not path_value.startswith("/"):
        raise UsageProblem(f"{path}: proxy.path must start with /")
    spec = ProxySpec(tuple(command), tuple(defect_args), path_value, ready_log, float(timeout), dict(env))
    return Profile(path.stem, path, str(data.get("description", "")), spec)


def _no_unknown(table: dict, known: set[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise UsageProblem(f"{path}: unknown key {prefix}{key} (known: {', '.join(sorted(known))})")


def _str_list(value, path: Path, key: str, required: bool = False) -> list[str]:
    if value is None and required:
        raise UsageProblem(f"{path}: missing key {key}")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise UsageProblem(f"{path}: {key} must be a non-empty list of strings")
    return value


def _check_placeholders(text: str, path: Path, key: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise UsageProblem(f"{path}: {key}: {exc} in {text!r}") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            raise UsageProblem(f"{path}: {key}: unknown placeholder {{{name}}} "
                               f"(known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))})")
