# ssnlib — the two commands that matter: `make test` and `make reproduce`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= cpu
STAMP := $(VENV)/.installed

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: venv test test-fast reproduce retrain ship benchmark long-runs

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Lint (ruff: pyflakes, pycodestyle, import order), unit tests, then every notebook under nbval at
# the `ci` preset.
test: venv
	$(PY) -m ruff check .
	OMP_NUM_THREADS=1 SSNLIB_PRESET=ci $(PY) -m pytest tests notebooks --nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg

# Run every notebook with papermill: executed copies in results/$(PRESET)/, tables in
# results/$(PRESET)/, figures in figures/$(PRESET)/, then results/$(PRESET)/summary.md.
reproduce: venv
	@mkdir -p results/$(PRESET)
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb ($(PRESET))"; \
	  SSNLIB_PRESET=$(PRESET) TQDM_DISABLE=1 SSNLIB_LOG_LEVEL=WARNING $(PY) -m papermill --cwd notebooks --log-level WARNING $$nb \
	    results/$(PRESET)/$$(basename $$nb) -p preset $(PRESET) || exit 1; \
	done
	$(PY) -m ssnlib summary --preset $(PRESET)

# Same, ignoring the shipped generators: every model is trained again first, JOBS at a time, from
# the preset's shipped StyleGAN2 bases (at `cpu` about 12 h of 1-thread job time, ~6 h on 2 cores;
# an interrupted run resumes from its last checkpoint), then `make ship` makes them the shipped ones.
JOBS ?= 2
retrain: venv
	OMP_NUM_THREADS=1 $(PY) -m ssnlib zoo --preset $(PRESET) --jobs $(JOBS) --retrain
	SSNLIB_RETRAIN=1 $(MAKE) reproduce PRESET=$(PRESET)

ship: venv
	$(PY) -m ssnlib ship --preset $(PRESET)

# Long runs kept across sessions in models/$(PRESET)/training/<run>/ (one checkpoint each, its
# config and CSVs committed): resume every one that still has a checkpoint (a finished run keeps
# only its CSVs), in place, one 1-thread job each, to the length in its own config.json — or to
# KIMG for all of them when given (make long-runs KIMG=1200).
KIMG ?=
long-runs: venv
	@for run in models/$(PRESET)/training/*/; do \
	  ls $$run/checkpoints/*.safetensors > /dev/null 2>&1 || continue; \
	  OMP_NUM_THREADS=1 $(PY) -m ssnlib train --resume $$run --out $$run $(if $(KIMG),--kimg $(KIMG)) \
	    --keep-checkpoints 1 >> $$run/train.log 2>&1 & \
	done; wait

test-fast: venv
	$(PY) -m pytest tests -m "not slow and not browser"

benchmark: venv
	$(PY) benchmarks/bench_smc.py
	$(PY) benchmarks/bench_train.py
