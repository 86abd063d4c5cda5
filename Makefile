# Two commands: `make run` (set up and run the pipeline), `make test` (the whole test suite).
# `make check`: the fast checks (lint, types, the unit tier), what CI runs before anything else.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3.11
PORT ?= 8000
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
# Stage commands call `python`: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install install-dev install-test run reset ui check test lint format serve monitor image \
	rehearse bench clean

$(BIN)/activate: requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/activate

# The test and lint tools, into the same .venv (a stamp: pip leaves no file of its own to date).
$(BIN)/.dev-installed: $(BIN)/activate requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Tools for tests/system/test_kubernetes_tools.py that cannot share .venv: checkov (its pins
# conflict with requirements.txt's) in .venv-checkov/, from the full lock
# requirements-checkov.txt; and the ServiceMonitor CRD schema (npm, exact versions in its
# package-lock.json).
CHECKOV_VENV ?= .venv-checkov
CRD_SCHEMA := tools/servicemonitor-schema

$(CHECKOV_VENV)/bin/activate: requirements-checkov.txt
	test -d $(CHECKOV_VENV) || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_VENV)/bin/activate

$(CRD_SCHEMA)/node_modules/.package-lock.json: $(CRD_SCHEMA)/package-lock.json $(CRD_SCHEMA)/package.json
	cd $(CRD_SCHEMA) && npm ci --no-audit --no-fund --loglevel=error
	touch $(CRD_SCHEMA)/node_modules/.package-lock.json

install: $(BIN)/activate  ## .venv: the pipeline's pinned requirements and the package (all make run needs)

install-dev: $(BIN)/.dev-installed  ## install, plus the test and lint tools (requirements-dev.txt)

install-test: install-dev $(CHECKOV_VENV)/bin/activate $(CRD_SCHEMA)/node_modules/.package-lock.json  ## install-dev, plus the manifest linters (checkov, the CRD schemas)

run: install  ## run the pipeline on the embedded default data
	$(BIN)/house-price check  # also when DVC finds nothing to run (a misspelt param key)
	$(BIN)/dvc repro

reset: install  ## back to the committed baseline: params, dvc.lock and every output (drops your param edits)
	git checkout HEAD -- params.yaml dvc.lock
	$(BIN)/dvc checkout --force --allow-missing
	$(BIN)/dvc repro  # rebuilds only what the cache could not restore

UI_PORT ?= 5000
ui: install  ## the MLflow UI on the project's local store (mlruns/), on 127.0.0.1:UI_PORT
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
		--host 127.0.0.1 --port $(UI_PORT)

check: install-dev  ## lint, the type check of src/ and the unit tier (tests/unit: in-process, seconds)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest tests/unit

# Two pytest-xdist workers, one test file a unit of work; the files of the session pipeline (two
# halves), and those of the Docker engine, are each one unit, run in order on one worker
# (tests/conftest.py).
test: install-test  ## the whole test suite, every tier: unit, integration, system (what CI runs)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: install  ## the API on PORT (default 8000) from the bundle in models/ (WEB_CONCURRENCY workers)
	HOST=127.0.0.1 PORT=$(PORT) $(BIN)/python -m house_price.serve

# The Debian packages make monitor needs (monitoring/debian-packages.txt): nothing to do when
# installed; a missing one needs root (apt-get), and the script names the sudo command.
monitor: install  ## the API, Prometheus and Alertmanager on loopback with monitoring/'s configs; Ctrl-C stops all
	python3 scripts/debian_packages.py monitoring/debian-packages.txt
	$(BIN)/python scripts/monitor.py

image:  ## build the serving image (needs a Docker engine; without one: sandbox/README.md)
	docker build -t house-price-model:local .

rehearse: install-dev  ## the CI workflow's steps on this machine, push to a local registry included
	$(BIN)/python -m sandbox.rehearsal

bench: install  ## pipeline, API and batch scoring benchmarks (figures in BENCHMARKS.md)
	$(BIN)/python bench/pipeline_bench.py
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/score_bench.py

clean:
	rm -rf data/raw data/processed artifacts models plots reports metrics.json mlruns
