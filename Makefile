# Motherboard: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The stamp is keyed by pyproject.toml, so a dependency change reinstalls on the next make.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml 2>/dev/null | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: help install system-packages traces crds verify lint format typecheck imports unit integration e2e test cluster cluster-bench cluster-down demo bench clean

help: ## List every target with one line each
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

install: system-packages $(STAMP) ## Create .venv and install motherboard with its dev tools (once per pyproject change)

system-packages: ## Install the missing Debian packages of hack/apt-packages.txt (lld, qemu-user, aarch64 g++, containerd...)
	@bash hack/install-system-packages.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

crds: install ## Regenerate crds/ (and the chart's copy) from the pydantic API models; the dashboards and alert rules too
	$(BIN)/motherboard crds --output crds
	$(BIN)/motherboard crds --output charts/motherboard/crds
	$(BIN)/python -m motherboard.dashboards

verify: install ## Fail if generated files (crds/, the chart's CRDs, dashboards, alert rules) are out of date
	$(BIN)/motherboard crds --check --output crds
	$(BIN)/motherboard crds --check --output charts/motherboard/crds
	$(BIN)/python -m motherboard.dashboards --check

lint: install ## ruff lint and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: install ## mypy (strict) on src/
	$(BIN)/mypy

imports: install ## import-linter: the architecture's seams
	$(BIN)/lint-imports

unit: install ## Unit tests only (no cluster)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: install ## Integration tests on the local control plane (builds it on first use)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: install ## Whole-system tests: real operator and scheduler on the local control plane
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test: lint typecheck imports verify ## Everything CI runs: lint, types, seams, generated files, all tests
	$(BIN)/pytest $(PYTEST_ARGS)

cluster: install ## Start the local control plane with the demo profile
	$(BIN)/motherboard dev-cluster up

cluster-bench: install ## Start the local control plane with 1,000 kwok nodes (profiles/bench-1000.yaml)
	$(BIN)/motherboard dev-cluster up --profile profiles/bench-1000.yaml

cluster-down: install ## Stop the local control plane
	$(BIN)/motherboard dev-cluster down

demo: install ## The main job: local cluster, operator, scheduler, examples, live status
	$(BIN)/motherboard demo

traces: install ## Download the Alibaba GPU trace into ~/.cache/motherboard/traces (or set MOTHERBOARD_TRACES)
	$(BIN)/python -m motherboard.scheduler.simulate.tracefiles

bench: install ## Benchmarks (see docs/benchmarks.md); not part of test
	$(BIN)/python bench/packing.py

clean: ## Remove the virtualenv and caches (built cluster binaries stay in ~/.cache/motherboard)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
