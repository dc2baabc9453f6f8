"""Stash keys shared by the plugin's hooks and its fixtures (a module of its own, so neither imports the other)."""

import pytest

RECORDING = pytest.StashKey["object"]()  # the test's Recording, for its failure report
CONSOLE = pytest.StashKey["list"]()    # the page's console messages and errors, for the failure report
FAILED = pytest.StashKey[bool]()      # the test failed in setup or call (its trace is kept)
TRACE = pytest.StashKey["object"]()    # the path of the failed test's Playwright trace
PROXY = pytest.StashKey["object"]()    # the proxy process the test ran against (to name its exit)
DEATH_REPORTED = pytest.StashKey[bool]()   # the proxy's exit during this test is already its failure
FAULTS = pytest.StashKey["list"]()     # callables naming faults of the harness's own parts during this test:
                                       # strings (the harness's) or HarnessFault (with its party)
STALLS = pytest.StashKey["object"]()   # a replay's: why the test's connections wait for what the cassette holds
VERDICT = pytest.StashKey[str]()       # the test's own outcome at call (passed, failed, error, inconclusive, ...)
LAST_PROXY_TEST = pytest.StashKey["object"]()   # (config) the last test item that ran against the proxy
EARLIER_DEATH = pytest.StashKey["object"]()     # (item) the proxy exited after the previous test: (its nodeid, why)
# The user property under which a phase's report carries its judged record (judging.outcome.PhaseRecord, as JSON)
# from a worker to the controller.
RECORD = "harness"
