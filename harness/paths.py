"""Where the harness writes: reports in the user's working directory, tools in the user's cache; never into
the folder the harness is installed in."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from voice_harness.errors import EnvironmentProblem

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


# What the package carries, by the package that holds it: found with importlib.resources, never by walking up
# from a module's file, so an installed copy finds them as the repository does.
BUNDLED = {
    "suites": ("voice_harness.suites", "test_canary.py"),
    "test_app": ("voice_harness.test_app", "index.html"),
    "profiles": ("voice_harness.profiles", "reference.toml"),
    "catalogue": ("voice_harness.judging", "requirements.toml"),
    "defects": ("voice_harness.reference_proxy", "defects.toml"),
    "app_contract": ("voice_harness.docs", "app-contract.md"),   # docs/, for app authors
}


def bundled(name: str) -> Path:
    """The folder of a bundled part (suites, test_app, profiles, ...) as a real path; a broken install (the part
    missing, or not on the file system) is an EnvironmentProblem: exit 2, never a verdict."""
    package, marker = BUNDLED[name]
    try:
        folder = resources.files(package)
    except ModuleNotFoundError:
        folder = None
    if not isinstance(folder, Path) or not (folder / marker).is_file():
        raise EnvironmentProblem(f"the harness's {name} ({package}/{marker}) is missing from its install: "
                                 f"reinstall it (pip install --force-reinstall voice-proxy-harness)")
    return folder


def package_root() -> Path:
    """The folder the harness is installed in (the repository's harness/ in a checkout): read-only to runs."""
    return Path(resources.files("voice_harness"))
