"""Errors the harness reports to the user in one line (exit code 2), never as a traceback; none of them is a
claim about the proxy."""


class UsageProblem(Exception):
    """Bad input from the user: an unknown profile, scenario or defect, a malformed file."""


class EnvironmentProblem(Exception):
    """The machine cannot run the suites: no browser, the proxy would not start, a URL that does not answer."""


class HarnessFault(Exception):
    """Something inside the harness failed during a test (the mock upstream, a tap, the browser driver): the
    test could not be judged. `party` says whose part broke, for the report."""

    def __init__(self, message: str, party: str = "harness"):
        super().__init__(message)
        self.party = party
