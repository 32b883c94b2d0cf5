# Tests of the course where learners run it (included by the Makefile; needs VENV, BIN and `setup`).
#   make test-colab    Colab's image in .venv-colab (Python 3.13, TF 2.20): setup cells, the learner
#                      notebooks' Run All, the solutions' answers scored
#   make test-colab-nbval  (maintainers) the same, then the solution notebooks under nbval there
#   make test-browser  JupyterLab in Debian's Chromium: lesson 01 run, hint seen, answer typed, pass line seen
COLAB_VENV := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.colab-image-installed
COLAB_IMAGE := tools/colab/colab-image.txt
# Lesson numbers of the solution notebooks to run there (comma-separated), or all; and lessons
# to leave out for time (for example COLAB_SKIP=06, the slowest: 3.5 to 7 minutes there).
COLAB_NOTEBOOKS ?= all
COLAB_SKIP ?=
PLAYWRIGHT := playwright==1.65.2
LEARNER_PYTEST = $(BIN)/python -m pytest -ra -p no:cacheprovider --durations=20

.PHONY: colab-env test-colab test-colab-nbval test-browser

# Rebuilt from scratch only when the image file changes; the tests reset it to the image each run.
$(COLAB_STAMP): $(COLAB_IMAGE)
	rm -rf $(COLAB_VENV)
	"$$(tools/colab/find-python313.sh)" -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install -q -r $(COLAB_IMAGE)
	@touch $@

colab-env: $(COLAB_STAMP)

test-colab: setup $(COLAB_STAMP)
	COLAB_NOTEBOOKS=$(COLAB_NOTEBOOKS) COLAB_SKIP=$(COLAB_SKIP) $(LEARNER_PYTEST) tests_learner/test_colab_setup.py

# Maintainers: the solution notebooks' stored outputs compared in Colab's image too (CI compares
# them once, in .venv: see CONTRIBUTING.md).
test-colab-nbval: setup $(COLAB_STAMP)
	COLAB_NOTEBOOKS=$(COLAB_NOTEBOOKS) $(LEARNER_PYTEST) tests_learner/test_colab_setup.py tests_learner/test_colab_nbval.py

test-browser: setup
	@tools/browser/ensure-chromium.sh
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install -q $(PLAYWRIGHT)
	BERTLAB_QUICK=1 $(LEARNER_PYTEST) tests_learner/test_jupyterlab_browser.py
