# VCE — every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
VCE    := $(VENV)/bin/vce
# uv, pinned, in .tools/ (never whatever `uv` is on PATH); exported so images/build.sh,
# images/wheelhouse.py, the test fixtures and the benchmarks call the same one.
export UV ?= $(CURDIR)/.tools/bin/uv
UV_VERSION := 0.13.9
DEMO   ?= datasets/demo
DEMO_VIDEOS ?= 20000
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
export UV_PYTHON ?= python3.11

.PHONY: help setup prereqs test test-quick test-unit test-integration test-e2e lint format bench datasets images run stop clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: every `vce` command starts from .pyc files even where
# PYTHONDONTWRITEBYTECODE is set (otherwise each run compiles ~300 modules, 0.6 s).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (pinned, offline-reproducible)

prereqs: setup ## install and start what the tests need (Docker engine, proxy, PostgreSQL, Chromium)
	bash scripts/prereqs.sh

test: prereqs ## install the prerequisites, then run every test tier — what CI runs
	$(PY) -m pytest tests src/vce

test-quick: setup ## the suite without installing anything; tests whose prerequisite is missing skip
	VCE_ALLOW_SKIP=1 $(PY) -m pytest tests src/vce

test-unit: setup ## unit tests and doctests only
	$(PY) -m pytest tests/unit src/vce

test-integration: prereqs
	$(PY) -m pytest tests/integration

test-e2e: prereqs
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
	bash images/build.sh

run: setup ## start the whole system on http://127.0.0.1:8000 (installs what is missing; idempotent)
	bash scripts/run.sh

stop: ## stop what 'make run' started
	bash scripts/stop.sh

clean: ## remove generated data and the environment
	rm -rf $(VENV) .tools $(DEMO) .pytest_cache
