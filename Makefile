# Every target bootstraps .venv first (python3 -m venv + pip install -e ".[dev]");
# the install reruns only when pyproject.toml changed (the stamp file tracks it).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TYPECHECK := .typecheck/retort

.PHONY: help setup demo test lint types unit bench fuzz soak clean

help:
	@echo "make demo   - set up .venv, then run the end-to-end demo (retort demo)"
	@echo "make test   - set up .venv, then lint, type-check and run the test suite"
	@echo "make bench  - run the benchmarks in tests/benchmarks (ratios against baselines)"
	@echo "make lint   - ruff over the whole tree"
	@echo "make fuzz   - the property tests with the 'thorough' hypothesis profile"
	@echo "make soak   - a long reliability run against the reference server with faults"

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# mypy cannot follow the editable-install import hook that maps retort.core -> core/,
# so it reads the same files through symlinks laid out as the installed namespace.
PACKAGES := core parsers adapters plugins

demo: $(STAMP)
	$(BIN)/retort demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	@mkdir -p $(TYPECHECK)
	@for p in $(PACKAGES); do ln -sfn ../../$$p $(TYPECHECK)/$$p; done
	$(BIN)/mypy $(foreach p,$(PACKAGES),-p retort.$(p))

unit: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q

test: lint types unit

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/run.py

soak: $(STAMP)
	$(BIN)/python tests/soak/soak.py $(ARGS)

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q -m "not slow" tests/parsers

clean:
	rm -rf $(VENV) .typecheck .mypy_cache .pytest_cache .ruff_cache .hypothesis build *.egg-info
