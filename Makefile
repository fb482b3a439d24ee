# Every target creates what it needs when missing and is a no-op when it is up to date.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
PYTEST_ARGS ?=

.PHONY: help demo test lint format bench bench-large lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMPS):
	mkdir -p $(STAMPS)

# Python environment: the exact pinned set, then the project itself (editable, no resolution).
$(STAMPS)/venv: pyproject.toml requirements.lock | $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Local chain tooling: anvil and solc from npm, versions pinned by package-lock.json.
$(STAMPS)/node: package.json package-lock.json | $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Testbed contracts compiled offline with the pinned solc.
$(STAMPS)/contracts: $(STAMPS)/node $(wildcard fixtures/contracts/*.sol) fixtures/contracts/compile.js | $(STAMPS)
	node fixtures/contracts/compile.js
	touch $@

# Debian packages the tests need (graphviz: the DOT export is rendered with `dot`; chromium:
# the HTML case view is loaded in headless Chromium, driven by playwright). Installed
# with apt-get when one is missing and we are root (as in CI); otherwise the tests that need
# them are skipped with a message saying what to install.
DEBIAN_PACKAGES := graphviz chromium

$(STAMPS)/debian: Makefile | $(STAMPS)
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing && touch $@; \
	else echo "note: missing Debian packages: $$missing (not root: run 'sudo apt-get install $$missing'; tests needing them are skipped)"; fi

ENV := $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/contracts

demo: $(ENV)  ## start a local chain with a laundering scenario, trace it, print the report
	$(BIN)/python -m tracer.testbed.demo

test: $(ENV) $(STAMPS)/debian  ## run the whole test suite (no network beyond loopback)
	$(BIN)/python -m pytest -m "not live" $(PYTEST_ARGS)

lint: $(STAMPS)/venv  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMPS)/venv  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmark-only packages (cryo, pyarrow), on top of the test environment.
$(STAMPS)/bench: $(STAMPS)/venv requirements-bench.lock | $(STAMPS)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-bench.lock
	touch $@

bench: $(ENV) $(STAMPS)/bench  ## run the benchmarks (slow; figures go in benchmarks/README.md)
	$(BIN)/python -m benchmarks.run_all

lock:  ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf /tmp/tracer-lock && $(PYTHON) -m venv /tmp/tracer-lock
	/tmp/tracer-lock/bin/pip install --quiet -e '.[dev]'
	{ echo "# Full transitive pin set for tracer and its dev tools (regenerate: make lock)."; \
	  /tmp/tracer-lock/bin/pip freeze --all --exclude-editable | grep -v -e '^tracer' -e '^pip=='; } > requirements.lock

clean:  ## remove the environments and build outputs
	rm -rf $(VENV) node_modules $(STAMPS) fixtures/contracts/build .pytest_cache .mypy_cache .ruff_cache
