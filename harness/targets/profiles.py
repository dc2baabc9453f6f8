"""Target profiles (TOML): the proxy under test (started by a command, or already running at a URL), the
upstream (the mock, or the real OpenAI Realtime API through the recording tap) and the app (the bundled one,
or another that follows the DOM contract, with its own selectors and URL parameter names).

A profile error names the file and the key, in one line, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import string
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from voice_harness import paths
from voice_harness.drivers.app_driver import Selectors
from voice_harness.errors import UsageProblem

PLACEHOLDERS = {"python", "port", "upstream_url", "defect", "variant"}
REAL_URL = "wss://api.openai.com/v1/realtime?model=gpt-realtime"
UPSTREAM_MODES = ("mock", "real")
REPLAY, REPLAY_PREFIX = "replay", "replay:"

_TOP_KEYS = {"description", "proxy", "upstream", "app"}
_PROXY_KEYS = {"command", "url", "defect_args", "variant_args", "path", "ready_log", "ready_timeout_s", "env", "cwd"}
# A shell's leading variable assignment (NAME=value before the program), as --proxy-cmd accepts it.
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_UPSTREAM_KEYS = {"mode", "port", "real_url"}
_APP_KEYS = {"url", "client_tap", "endpoint_param", "extra_params", "selectors", "input_rate"}


@dataclass(frozen=True)
class ProxySpec:
    command: tuple[str, ...] = ()
    url: str | None = None                  # a proxy already running: nothing is started
    defect_args: tuple[str, ...] = ()
    path: str = "/openai"
    ready_log: str | None = None
    ready_timeout_s: float = 20.0
    env: dict[str, str] = field(default_factory=dict)
    variant_args: tuple[str, ...] = ()      # appended for --variant NAME (the reference proxy's --minimal)
    cwd: Path | None = None                 # the proxy's working directory (None: the harness's)

    def _values(self, port: int, upstream_url: str, defect: str | None, variant: str | None) -> dict[str, str]:
        return {"python": sys.executable, "port": str(port), "upstream_url": upstream_url, "defect": defect or "",
                "variant": variant or ""}

    def argv(self, port: int, upstream_url: str, defect: str | None, variant: str | None = None) -> list[str]:
        values = self._values(port, upstream_url, defect, variant)
        parts = list(self.command) + (list(self.defect_args) if defect else []) + \
            (list(self.variant_args) if variant else [])
        return [part.format(**values) for part in parts]

    def environment(self, port: int, upstream_url: str, defect: str | None, variant: str | None = None
                    ) -> dict[str, str]:
        values = self._values(port, upstream_url, defect, variant)
        return {key: value.format(**values) for key, value in self.env.items()}


@dataclass(frozen=True)
class UpstreamSpec:
    mode: str = "mock"                      # mock | real (OpenAI through the tap) | replay (cassettes)
    port: int = 0                           # where the mock (or the tap) listens; 0: chosen by the OS
    real_url: str = REAL_URL
    replay: Path | None = None              # mode replay: a cassette, or a folder of them (--upstream replay:PATH)


@dataclass(frozen=True)
class AppSpec:
    url: str | None = None                  # None: the bundled test app
    client_tap: bool = True                 # False: the app talks to the proxy directly (no leg A record)
    endpoint_param: str = "proxyEndpoint"
    extra_params: dict[str, str] = field(default_factory=lambda: {"connectionMode": "proxy"})
    selectors: Selectors = Selectors()
    input_rate: int = 24000                 # the app's Settings.audio.input.sample_rate: the spoken WAV's rate


@dataclass(frozen=True)
class Profile:
    name: str
    source: Path
    description: str
    proxy: ProxySpec
    upstream: UpstreamSpec = UpstreamSpec()
    app: AppSpec = AppSpec()

    @property
    def can_switch_defects(self) -> bool:
        return bool(self.proxy.defect_args) and self.proxy.url is None

    @property
    def can_switch_variants(self) -> bool:
        return bool(self.proxy.variant_args) and self.proxy.url is None


def names() -> list[str]:
    return sorted(p.stem for p in paths.bundled("profiles").glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise UsageProblem(f"profile file {name_or_path} not found")
        return path
    candidate = paths.bundled("profiles") / f"{name_or_path}.toml"
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
    proxy = _table(data, "proxy", path, required=True)
    _no_unknown(proxy, _PROXY_KEYS, path, "proxy.")
    upstream = _table(data, "upstream", path)
    _no_unknown(upstream, _UPSTREAM_KEYS, path, "upstream.")
    app = _table(data, "app", path)
    _no_unknown(app, _APP_KEYS, path, "app.")
    return Profile(path.stem, path, str(data.get("description", "")), _proxy(proxy, path),
                   _upstream(upstream, path), _app(app, path))


def with_overrides(profile: Profile, proxy_cmd: str | None = None, proxy_url: str | None = None,
                   app_url: str | None = None, upstream: str | None = None) -> Profile:
    """The profile with the CLI's --proxy-cmd, --proxy-url, --app-url and --upstream applied."""
    proxy, app, up = profile.proxy, profile.app, profile.upstream
    where = Path("--proxy-cmd")
    if proxy_cmd is not None:
        assignments, command = split_command(proxy_cmd)
        # The profile's readiness settings still apply to the user's command (its path, env and cwd too); its
        # defect_args and variant_args belong to its own command, not to the user's, and are dropped. Leading
        # NAME=value words are the command's environment, as in a shell, over the profile's.
        table = {"command": command, "path": proxy.path, "env": {**proxy.env, **assignments},
                 "ready_timeout_s": proxy.ready_timeout_s}
        if proxy.cwd is not None:
            table["cwd"] = str(proxy.cwd)
        if proxy.ready_log is not None:
            table["ready_log"] = proxy.ready_log
        proxy = _proxy(table, where)
    if proxy_url is not None:
        proxy = _proxy({"url": proxy_url, "path": proxy.path}, Path("--proxy-url"))
    if app_url is not None:
        app = dataclasses.replace(app, url=_http_url(app_url, Path("--app-url"), "url"))
    if upstream is not None:
        if upstream.startswith(REPLAY_PREFIX):
            source = Path(upstream.removeprefix(REPLAY_PREFIX)).expanduser()
            if not upstream.removeprefix(REPLAY_PREFIX) or not source.exists():
                raise UsageProblem(f"--upstream {upstream}: no such cassette or folder (record one with "
                                   f"--upstream real: reports/cassettes/)")
            up = dataclasses.replace(up, mode=REPLAY, replay=source.resolve())
        elif upstream not in UPSTREAM_MODES:
            raise UsageProblem(f"--upstream must be one of {', '.join(UPSTREAM_MODES)}, or {REPLAY_PREFIX}PATH "
                               f"(a cassette or a folder of them)")
        else:
            up = dataclasses.replace(up, mode=upstream, replay=None)
    return dataclasses.replace(profile, proxy=proxy, app=app, upstream=up)


def split_command(proxy_cmd: str) -> tuple[dict[str, str], list[str]]:
    """--proxy-cmd split as a shell would: its leading NAME=value assignments (the command's environment) and
    the command itself."""
    try:
        words = shlex.split(proxy_cmd)
    except ValueError as exc:
        raise UsageProblem(f"--proxy-cmd: {exc}") from None
    assignments: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    if not words:
        raise UsageProblem(f"--proxy-cmd {proxy_cmd!r} names no program after its variable assignments: add the "
                           f"command that starts the proxy")
    return assignments, words


def _cwd(value, path: Path) -> Path | None:
    """proxy.cwd, relative to the profile's folder (to the current folder for a command-line override)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UsageProblem(f"{path}: proxy.cwd must be a folder path (relative to the profile's folder)")
    base = path.parent if path.suffix == ".toml" else Path.cwd()
    folder = (base / Path(value).expanduser()).resolve()
    if not folder.is_dir():
        raise UsageProblem(f"{path}: proxy.cwd {value!r} is not a folder (looked for {folder})")
    return folder


def _proxy(table: dict, path: Path) -> ProxySpec:
    url = table.get("url")
    if url is not None and "command" in table:
        raise UsageProblem(f"{path}: give proxy.command or proxy.url, not both")
    defect_args = _str_list(table.get("defect_args", []), path, "proxy.defect_args")
    variant_args = _str_list(table.get("variant_args", []), path, "proxy.variant_args")
    env = table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise UsageProblem(f"{path}: proxy.env must be a table of strings")
    for key, value in env.items():
        _check_placeholders(value, path, f"proxy.env.{key}")
    path_value = table.get("path", "/openai")
    if not isinstance(path_value, str) or not path_value.startswith("/"):
        raise UsageProblem(f"{path}: proxy.path must start with /")
    if url is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise UsageProblem(f"{path}: proxy.url must be a ws:// or wss:// URL, got {url!r}")
        return ProxySpec(url=url.rstrip("/"), path=parts.path or path_value, env=dict(env))
    command = _str_list(table.get("command"), path, "proxy.command", required=True)
    for key, parts in (("proxy.command", command), ("proxy.defect_args", defect_args),
                       ("proxy.variant_args", variant_args)):
        for part in parts:
            _check_placeholders(part, path, key)
    if "{port}" not in " ".join([*command, *env.values()]):
        raise UsageProblem(f"{path}: proxy.command or proxy.env must use {{port}} (e.g. --port {{port}}, or "
                           f"PORT = \"{{port}}\" in [proxy.env]) so the harness can pick a free port")
    if _ASSIGNMENT.match(command[0]):
        raise UsageProblem(f"{path}: proxy.command starts with the assignment {command[0]!r}: put it in "
                           f"[proxy.env] instead (in --proxy-cmd, leading NAME=value words are taken as a shell does)")
    ready_log = table.get("ready_log")
    if ready_log is not None:
        try:
            re.compile(ready_log)
        except (re.error, TypeError) as exc:
            raise UsageProblem(f"{path}: proxy.ready_log is not a valid regex: {exc}") from None
    timeout = table.get("ready_timeout_s", 20.0)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise UsageProblem(f"{path}: proxy.ready_timeout_s must be a positive number")
    return ProxySpec(tuple(command), None, tuple(defect_args), path_value, ready_log, float(timeout), dict(env),
                     tuple(variant_args), _cwd(table.get("cwd"), path))


def _upstream(table: dict, path: Path) -> UpstreamSpec:
    mode = table.get("mode", "mock")
    if mode not in UPSTREAM_MODES:
        raise UsageProblem(f"{path}: upstream.mode must be one of {', '.join(UPSTREAM_MODES)}")
    port = table.get("port", 0)
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise UsageProblem(f"{path}: upstream.port must be a port number (0: chosen by the OS)")
    real_url = table.get("real_url", REAL_URL)
    parts = urlsplit(real_url) if isinstance(real_url, str) else None
    if parts is None or parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageProblem(f"{path}: upstream.real_url must be a ws:// or wss:// URL")
    return UpstreamSpec(mode, port, real_url)


def _app(table: dict, path: Path) -> AppSpec:
    selectors = table.get("selectors", {})
    known = {f.name for f in dataclasses.fields(Selectors)}
    if not isinstance(selectors, dict):
        raise UsageProblem(f"{path}: app.selectors must be a table")
    for key, value in selectors.items():
        if key not in known:
            raise UsageProblem(f"{path}: unknown key app.selectors.{key} (known: {', '.join(sorted(known))})")
        if not isinstance(value, str) or not (value or key == "microphone"):
            raise UsageProblem(f"{path}: app.selectors.{key} must be a data-testid string"
                               + (" (microphone may be \"\": the app has none)" if key == "microphone" else ""))
    extra = table.get("extra_params", AppSpec().extra_params)
    if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
        raise UsageProblem(f"{path}: app.extra_params must be a table of strings")
    endpoint = table.get("endpoint_param", "proxyEndpoint")
    tap = table.get("client_tap", True)
    if not isinstance(endpoint, str) or not endpoint or not isinstance(tap, bool):
        raise UsageProblem(f"{path}: app.endpoint_param must be a string and app.client_tap true or false")
    rate = table.get("input_rate", AppSpec.input_rate)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 8000 <= rate <= 48000:
        raise UsageProblem(f"{path}: app.input_rate must be the app's input sample rate in Hz (8000 to 48000)")
    url = table.get("url")
    return AppSpec(_http_url(url, path, "app.url") if url is not None else None, tap, endpoint, dict(extra),
                   Selectors(**selectors), rate)


def _http_url(url, path: Path, key: str) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https", "file") or not (parts.hostname or parts.path):
        raise UsageProblem(f"{path}: {key} must be an http(s):// URL, got {url!r}")
    return url


def _table(data: dict, key: str, path: Path, required: bool = False) -> dict:
    value = data.get(key)
    if value is None:
        if required:
            raise UsageProblem(f"{path}: missing table [{key}]")
        return {}
    if not isinstance(value, dict):
        raise UsageProblem(f"{path}: {key} must be a table")
    return value


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
