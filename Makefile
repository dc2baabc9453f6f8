# Two entry points, each doing its whole set-up on a fresh machine:
#   make conformance   the conformance suites against the embedded default (ARGS="--workers 1" for a serial run)
#   make test          the project's own tests plus the suites against the reference stack
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup conformance test bench clean

setup: $(STAMP)
	@$(PY) -m harness setup-browser
	@$(PY) -m harness setup-speech

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

conformance: setup
	$(PY) -m harness run $(ARGS)

# Three pytest-xdist workers, also on 2 cores: with two, the tests kept both cores only 69 % busy (they wait on
# sockets, timers and subprocesses more than they compute). A module whose fixture is made once is one group
# (xdist_group), the matrices' parts are shared by the workers (tests/tools/test_sensitivity.py). TEST_WORKERS=0
# runs it serially. The 30 slowest tests are
# listed at the end (where CI's time goes), and why any test was skipped.
TEST_WORKERS ?= 3

test: setup
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=30 -rs $(ARGS)

bench: setup
	$(PY) -m harness bench $(ARGS)

clean:
	rm -rf $(VENV) reports/*.json reports/*.md reports/*.xml reports/allure-results reports/logs
