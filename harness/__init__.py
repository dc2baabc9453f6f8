"""Conformance harness for voice-agent proxies: pytest plugin, CLI, page driver, checks."""

__version__ = "0.1.0"
