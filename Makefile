# Every target bootstraps .venv on a fresh machine that has only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's browser test drives Debian's Chromium through its own
# chromedriver: nothing is downloaded at test time.
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench clean

# The package with its user extras, and the project's own toolchain from
# pyproject's [dependency-groups] (pip >= 25.1 reads them with --group).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip>=25.1'
	$(BIN)/pip install -q -e '.[sqs,dashboard,schedule,test]' --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m alligator demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHROMEDRIVER)
	$(BIN)/python -m pytest -n 2 -q

$(CHROMEDRIVER):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

# Benchmarks run on demand, never in `make test` (see bench/README.md).
bench: $(STAMP)
	$(BIN)/pip install -q --group bench
	$(BIN)/python bench/drain.py
	$(BIN)/python bench/peers.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
