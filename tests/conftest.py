"""The project's own tests: pytester for the plugin's tests, and processes started in the background."""

import pytest

from support import Background

pytest_plugins = ["pytester"]


@pytest.fixture
def background():
    """start(argv, ready, env=None): a process of this test, in its own group, ready once its stderr says
    `ready`; every one is ended with the test."""
    started = []

    def start(argv, ready, env=None):
        started.append(Background(argv, ready, env))
        return started[-1]
    yield start
    for process in started:
        process.stop()
