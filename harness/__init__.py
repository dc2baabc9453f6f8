"""Conformance harness for voice-agent proxies: pytest plugin, CLI, page driver, checks."""

__version__ = "0.1.0"


def version() -> str:
    """The installed distribution's version (the package's own where it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("voice-proxy-harness")
    except PackageNotFoundError:
        return __version__
