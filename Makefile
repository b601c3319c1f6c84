# ssnlib — the two commands that matter: `make test` and `make reproduce`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= cpu
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast reproduce retrain benchmark clean-results

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: venv
	$(PY) -m pytest tests

test-fast: venv
	$(PY) -m pytest tests -m "not slow and not browser"

benchmark: venv
	$(PY) benchmarks/bench_smc.py
