# VCE — every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
VCE    := $(VENV)/bin/vce
UV     ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
UV_VERSION := 0.13.9
DEMO   ?= datasets/demo
DEMO_VIDEOS ?= 20000
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
export UV_PYTHON ?= python3.11

.PHONY: help setup test test-unit test-integration test-e2e lint format bench datasets images run stop clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (pinned, offline-reproducible)

test: setup ## run every test tier (unit, integration, e2e) — what CI runs
	$(PY) -m pytest tests src/vce

test-unit: setup ## unit tests and doctests only
	$(PY) -m pytest tests/unit src/vce

test-integration: setup
	$(PY) -m pytest tests/integration

test-e2e: setup
	$(PY) -m pytest tests/e2e

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup ## run benchmarks/ and print side-by-side ratios
	$(PY) -m benchmarks

datasets: setup ## generate the demo dataset into datasets/demo
	$(VCE) datasets generate --out $(DEMO) --videos $(DEMO_VIDEOS) --seed 7 --force
	$(VCE) datasets verify $(DEMO)

images: setup ## build the researcher image (no registry needed); prints its tag, size and build time
	UV=$(UV) bash images/build.sh

run: setup ## start the whole system on http://127.0.0.1:8000 (installs what is missing; idempotent)
	bash scripts/run.sh

stop: ## stop what 'make run' started
	bash scripts/stop.sh

clean: ## remove generated data and the environment
	rm -rf $(VENV) .tools $(DEMO) .pytest_cache
