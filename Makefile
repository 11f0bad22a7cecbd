# The course's commands. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The profile of `make course` and `make bench`: full (default) or smoke.
COURSE_PROFILE ?= full
export COURSE_PROFILE
export TQDM_DISABLE ?= 1
export PATH := $(abspath $(BIN)):$(PATH)
# The Keras backend of every target: tensorflow (default), jax or torch, e.g.
# `make test BACKEND=jax`. Its extra (pyproject.toml) is installed on first use.
BACKEND ?= $(or $(KERAS_BACKEND),tensorflow)
export KERAS_BACKEND := $(BACKEND)

.PHONY: help setup course test lint unit notebooks bench bench-record render preview lab env-file lock clean clean-cache \
	browser-deps slides-check pages-check browser-checks env-check

help:
	@echo "make setup    create .venv and install the course package with its dependencies"
	@echo "make course   set up, execute every lesson (COURSE_PROFILE=$(COURSE_PROFILE)) into build/, export HTML, render with Quarto if installed"
	@echo "make test     set up, lint, unit tests, then every lesson under nbval in the smoke profile (BACKEND=tensorflow|jax|torch)"
	@echo "make bench    time the data generation and loading, then each lesson and its peak memory (COURSE_PROFILE=smoke make bench for a quick one)"
	@echo "make bench-record  time every lesson on an empty cache (full profile) into course_utils/bench.json and the table in index.qmd"
	@echo "make preview  execute every lesson into build/ and export HTML previews with an index.html (no Quarto needed)"
	@echo "make render   execute each lesson once, render the website and slides from those outputs with Quarto, put the lessons back"
	@echo "make browser-deps  install Chromium and CJK fonts (apt), reveal.js (npm) and Playwright for the browser checks"
	@echo "make slides-check  build each lesson's reveal.js deck from the smoke build and report slides that overflow 1050x700 (REPORT_ONLY=1: exit 0)"
	@echo "make pages-check   open each lesson's HTML preview in Chromium: console errors, images, 400 px width, Chinese glyphs"
	@echo "make browser-checks  both checks; CI runs it with BACKEND=jax, so the smoke build is also the lessons' run on JAX"
	@echo "make lab      open JupyterLab on the lessons"
	@echo "make env-check ENV=colab|kaggle [LESSONS=\"01 03\"]  run lessons (smoke) in a fresh venv with only Colab's or Kaggle's (offline) packages, installed by their own install cell"
	@echo "make lock     rewrite uv.lock (exact versions for re-rendering) after changing pyproject.toml"
	@echo "make clean    remove build outputs; make clean-cache also removes data and trained models"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[tensorflow,dev]"
	touch $(STAMP)

# jax and torch come on top of the TensorFlow install (tf.data still reads image folders).
$(VENV)/.installed-tensorflow: $(STAMP)
	touch $@

$(VENV)/.installed-%: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

setup: $(STAMP) $(VENV)/.installed-$(BACKEND)

course: preview
	@$(MAKE) --no-print-directory render RENDER_ARGS="--executed build/$(COURSE_PROFILE)/notebooks"

preview: setup
	$(BIN)/python -m tools.build execute --html

test: lint unit notebooks

lint: setup
	$(BIN)/ruff check course_utils data_scripts tools tests lessons
	$(BIN)/ruff format --check course_utils data_scripts tools tests lessons

# On JAX and torch, the tests of modules marked backend_free (no Keras in them: tools, data
# scripts, the synthetic data) are skipped; the TensorFlow run has them. UNIT_MARKS= runs all.
UNIT_MARKS ?= $(if $(filter tensorflow,$(BACKEND)),,not backend_free or needs_backend)
unit: setup
	$(BIN)/python -m pytest tests -q -n 2 $(if $(UNIT_MARKS),-m "$(UNIT_MARKS)")

notebooks: setup
	COURSE_PROFILE=smoke $(BIN)/python -m pytest lessons --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=600 -n 2 --dist loadscope -p no:cacheprovider -q

bench: setup
	$(BIN)/python -m data_scripts.bench_data
	$(BIN)/python -m tools.build bench

bench-record: setup
	COURSE_PROFILE=full $(BIN)/python -m tools.build bench --cold --record course_utils/bench.json --index index.qmd

render:
	@if command -v quarto >/dev/null 2>&1; then \
		$(BIN)/python -m tools.publish render $(RENDER_ARGS); \
	else \
		echo "Quarto is not installed, so the website was not rendered."; \
		echo "Get it from https://quarto.org/docs/get-started/ (or: conda install -c conda-forge quarto),"; \
		echo "then run 'make render'. Executed notebooks and HTML previews are in build/$(COURSE_PROFILE)/."; \
	fi


# Browser checks (issue 18): Debian's chromium driven by Playwright (its own browser download is
# not reachable), reveal.js and the Source Sans Pro font of Quarto's slides from the npm registry.
# .ci/run calls `make browser-checks BACKEND=jax`.
SMOKE_HTML := build/smoke/html/index.html
NODE_DEPS  := build/node_modules/reveal.js/package.json
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
REPORT_ONLY ?=

browser-deps: setup $(NODE_DEPS)
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh | grep -q .; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium fonts-noto-cjk; \
	fi

$(NODE_DEPS):
	npm install --prefix build --no-audit --no-fund reveal.js@6 @fontsource/source-sans-pro@5

# The smoke build the checks read, on $(BACKEND); re-executed when a lesson changed. It fails
# when a lesson fails, so it doubles as a run of every lesson.
$(SMOKE_HTML): $(wildcard lessons/[0-9][0-9]-*.ipynb) lessons/_metadata.yml | setup
	COURSE_PROFILE=smoke $(BIN)/python -m tools.build execute --html --jobs 2

slides-check: browser-deps $(SMOKE_HTML)
	$(BIN)/python -m tools.slides_check $(if $(REPORT_ONLY),--report-only)

pages-check: browser-deps $(SMOKE_HTML)
	$(BIN)/python -m tools.pages_check $(if $(REPORT_ONLY),--report-only)

browser-checks: slides-check pages-check

lab: setup
	$(BIN)/jupyter lab lessons

# Colab-like and Kaggle-like (internet off) runs (issue 17, tools/envcheck.py): a fresh venv
# under build/envcheck/ with only the platform's packages (envs/$(ENV).txt), each lesson's own
# install cell installing the course, smoke profile, on $(BACKEND); results in
# build/envcheck/$(ENV)-$(BACKEND).json. LESSONS="01 03" picks lessons (default: all).
ENV ?= colab
LESSONS ?=
env-check: $(STAMP)
	$(BIN)/python -m tools.envcheck --env $(ENV) --backend $(BACKEND) $(LESSONS)

env-file: setup
	$(BIN)/python data_scripts/write_environment_yml.py

# uv.lock: every package at one exact version, for instructors who re-render exactly
# (`uv sync --extra tensorflow --extra dev`); pyproject.toml stays lower-bounded for students.
lock: setup
	$(BIN)/uv lock

clean:
	rm -rf build _site .quarto lessons/*_files lessons/.ipynb_checkpoints

clean-cache: clean
	rm -rf .course
