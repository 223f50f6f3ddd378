# flashtts developer commands. `make serve` installs and serves; `make test` installs and tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
EXTRAS ?= dev,qwen

.PHONY: install install-dev serve test test-fast lint clean

$(VENV)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[$*]"
	touch $@

install: $(VENV)/.installed-base
$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

install-dev: $(VENV)/.installed-$(EXTRAS)

serve: install
	$(VENV)/bin/flashtts serve --host $(HOST) --port $(PORT)

test: install-dev
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-fast: install-dev
	$(PY) -m pytest -q -ra -m "not slow and not browser" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
