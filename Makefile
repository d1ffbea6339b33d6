HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# axe-core, for the accessibility test in tests/test_browser.py, from the npm registry.
AXE_CORE_VERSION := 4.14.1
NPM_DIR := .cache/npm

.PHONY: run test index lint format bench perf clean axe

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m search index
	$(PY) -m search serve --host $(HOST) --port $(PORT) --workers $(WORKERS) --watch

index: $(VENV)/.runtime
	$(PY) -m search index

test: $(VENV)/.dev
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check search tests bench docs
	$(VENV)/bin/ruff format --check search tests bench docs

format: $(VENV)/.dev
	$(VENV)/bin/ruff format search tests bench docs
	$(VENV)/bin/ruff check --fix search tests bench docs

axe: $(NPM_DIR)/axe-core-$(AXE_CORE_VERSION).stamp

$(NPM_DIR)/axe-core-$(AXE_CORE_VERSION).stamp:
	npm install --prefix $(NPM_DIR) --save-exact --no-audit --no-fund axe-core@$(AXE_CORE_VERSION)
	touch $@

bench: $(VENV)/.dev
	$(PY) -m bench.relevance ../shared/eval/cranfield

perf: $(VENV)/.runtime
	$(PY) -m bench.perf

clean:
	rm -rf $(VENV) index .pytest_cache .cache
