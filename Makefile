# paceline: one Makefile for setup, tests, demo, benchmarks and the chart.
# `make demo` and `make test` work on a fresh machine with Python 3.11 and make.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
TOOLS_BIN ?= .tools/bin
STAMP := $(VENV)/.installed
# libs/paceline-dev (the launchers of tests, bench and demo) goes into this venv only, never
# into an image (the Dockerfile installs libs/paceline and one service).
PACKAGES := -e libs/paceline -e libs/paceline-dev -e services/provider-sandbox \
	-e services/token-refresher -e services/activity-api -e services/auth-gateway
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
DEMO_ARGS ?=

export PATH := $(abspath $(TOOLS_BIN)):$(abspath $(BIN)):$(PATH)

.PHONY: help venv system-deps npm-deps demo-monitoring bench-deps test test-unit lint format demo bench test-faults images test-images lock lock-check clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): constraints.txt requirements-dev.txt libs/*/pyproject.toml services/*/pyproject.toml
	@echo "==> creating $(VENV) and installing pinned dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(PACKAGES)
	@touch $@

venv: $(STAMP) ## create the virtualenv with pinned dependencies

system-deps: ## install redis-server and chromium (widget tests) with apt-get where missing
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "==> installing$$missing (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@redis-server --version | head -1

AXE_VERSION := 4.14.1
AXE := .tools/npm/node_modules/axe-core/axe.min.js

$(AXE): Makefile
	@command -v npm >/dev/null || { \
		echo "==> installing npm (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm >/dev/null; }
	npm install --silent --no-audit --no-fund --prefix .tools/npm axe-core@$(AXE_VERSION)
	@touch $@

npm-deps: $(AXE) ## axe-core (accessibility engine for the widget tests) from the npm registry

test: venv system-deps tools npm-deps ## install what tests need and run them all
	$(BIN)/python -m pytest tests -m "not faults and not images" $(PYTEST_ARGS)

test-unit: venv ## fast unit tests only
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: venv ## ruff (lint + format check) and mypy on the libraries and every service
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/*/src services/*/src

format: venv ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: venv ## run the whole stack on localhost against the sandbox (Ctrl-C stops it)
	$(BIN)/python tools/demo.py $(DEMO_ARGS)

demo-monitoring: venv tools ## make demo plus a local Prometheus with the chart's alert rules
	$(BIN)/python tools/demo.py --monitoring $(DEMO_ARGS)

bench-deps: ## install wrk (HTTP load generator) with apt-get where it is missing
	@command -v wrk >/dev/null || { \
		echo "==> installing wrk (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }

bench: venv system-deps bench-deps ## benchmarks; each prints ratios against a baseline from the same run
	$(BIN)/python bench/run.py

test-faults: venv system-deps ## the fault suite (bounded in time, loopback only)
	$(BIN)/python -m pytest tests -m faults $(PYTEST_ARGS)

images: ## build the four service images (docker, else podman; see tools/images.sh)
	tools/images.sh build

# podman on purpose: the test runs the containers with podman (rootful), whatever built them.
test-images: venv ## build the images with podman and run the stack as containers (tests/images)
	PACELINE_CONTAINER_ENGINE=podman tools/images.sh build
	$(BIN)/python -m pytest tests/images -m images -s $(PYTEST_ARGS)

# tools/lock.py asks pip what it would install (a dry run, nothing installed) with a pip of its
# own (--report needs pip >= 22.2), so it works before .venv exists or when the pins are broken.
LOCK_VENV := .tools/lock-venv
UPGRADE ?=

$(LOCK_VENV)/bin/python:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"

lock: $(LOCK_VENV)/bin/python ## re-pin constraints.txt: keep the pins, add and drop what changed (UPGRADE=1: newest releases)
	$(LOCK_VENV)/bin/python tools/lock.py write $(if $(UPGRADE),--upgrade)

lock-check: $(LOCK_VENV)/bin/python ## fail unless constraints.txt is exactly what make lock writes (CI)
	$(LOCK_VENV)/bin/python tools/lock.py check

clean: ## remove the virtualenv, tools and caches
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache

-include mk/chart.mk
