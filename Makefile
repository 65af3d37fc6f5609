# Two entry points: `make run` (the quickstart notebook on the local provider) and
# `make test` (everything CI checks). Both build .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m flow_notebook.notebook.run_notebook notebooks/01_quickstart.ipynb

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: system-deps $(STAMP) lint
	$(PY) -m pytest -q --nbval-lax tests notebooks

clean:
	rm -rf $(VENV) .pytest_cache
