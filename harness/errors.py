"""Errors the harness reports to the user in one line (exit code 2), never as a traceback."""


class UsageProblem(Exception):
    """Bad input from the user: an unknown profile, scenario or defect, a malformed file."""


class EnvironmentProblem(Exception):
    """The machine cannot run the suites: no browser, the proxy would not start."""
