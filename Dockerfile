# flashtts container images (README, "Run in a container").
#
#   docker build -t flashtts .                     CPU image (default target): the Piper engine, ONNX Runtime
#   docker build --target cuda -t flashtts:cuda .  NVIDIA GPUs: the Qwen3-TTS engine with vLLM and torch's CUDA
#                                                  wheels (untested: see the README)
#
# Build arguments (all optional):
#   EXTRAS     extras of flashtts to add to the CPU image, e.g. "ray" (comma-separated; default none)
#   PIP_CERT   a CA bundle for pip, for networks whose TLS is intercepted; empty (the default) means pip's own.
#              The file must be mounted into the build by the caller (make image does it with podman's -v).
#   VERSION    the image's version label
#
# Every `flashtts serve` option is also a FLASHTTS_<NAME> environment variable (README, options table):
#   docker run -p 8000:8000 -v flashtts:/data -e FLASHTTS_API_KEY=secret flashtts

ARG DEBIAN_BASE=docker.io/library/debian:bookworm-slim
ARG CUDA_BASE=docker.io/nvidia/cuda:13.0.2-base-ubuntu24.04

# ---- python: Debian's Python 3.11 and the user the server runs as (the base of build and cpu) -----------
FROM ${DEBIAN_BASE} AS python
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && useradd --create-home --uid 1000 --user-group flashtts \
 && mkdir -p /data && chown flashtts:flashtts /data

# ---- build: a virtual environment in /opt/flashtts ------------------------------------------------------
FROM python AS build
ARG PIP_CERT=""
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=120
# ca-certificates: Debian's pip verifies TLS against the system's trust store (PIP_CERT, when given, replaces it)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && python3 -m venv /opt/flashtts \
 && /opt/flashtts/bin/pip install -q "setuptools>=77" wheel
WORKDIR /src
# the dependencies first, in a layer of their own: a change to the code does not reinstall them
COPY pyproject.toml tools/container/requirements.py ./
RUN python3 requirements.py pyproject.toml "$EXTRAS" > requirements.txt \
 && /opt/flashtts/bin/pip install -q -r requirements.txt
COPY . .
RUN /opt/flashtts/bin/pip install -q --no-deps --no-build-isolation . \
 && /opt/flashtts/bin/pip uninstall -q -y setuptools wheel


# ---- cuda: Qwen3-TTS on NVIDIA GPUs (--target cuda) -----------------------------------------------------
# torch 2.13's wheels bring the CUDA 13 libraries (NVIDIA driver 580 or newer); the base brings what the NVIDIA
# container toolkit needs. Triton (under vLLM) compiles small launchers at run time: gcc and the Python headers
# stay. torchaudio resolves to an older release than torch (2.11 beside 2.13), whose compiled kernels may not load
# beside it; flashtts needs only its Python part: they are removed, as the Makefile does on CPU (CPU_TORCH_FIXUP).
# The user gets uid 1000, as in the CPU image.
FROM ${CUDA_BASE} AS cuda
ARG PIP_CERT=""
ARG VERSION=0.1.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=120
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc \
    ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/flashtts \
 && /opt/flashtts/bin/pip install -q "setuptools>=77" wheel
WORKDIR /src
COPY pyproject.toml tools/container/requirements.py ./
RUN python3 requirements.py pyproject.toml vllm > requirements.txt \
 && /opt/flashtts/bin/pip install -q -r requirements.txt
COPY . .
RUN /opt/flashtts/bin/pip install -q --no-deps --no-build-isolation . \
 && rm -f /opt/flashtts/lib/python3*/site-packages/torchaudio/lib/*.so \
 && cd / && rm -rf /src \
 && (userdel --remove ubuntu 2>/dev/null || true) \
 && useradd --create-home --uid 1000 --user-group flashtts \
 && mkdir -p /data && chown flashtts:flashtts /data
WORKDIR /data
ENV PATH=/opt/flashtts/bin:$PATH PYTHONUNBUFFERED=1 HF_HOME=/data/huggingface \
    FLASHTTS_HOST=0.0.0.0 FLASHTTS_PORT=8000 FLASHTTS_WYOMING_PORT=10200 FLASHTTS_ROLE_DIR=/data/roles \
    FLASHTTS_ENGINE=qwen3 FLASHTTS_BACKEND=vllm FLASHTTS_DEVICE=cuda
LABEL org.opencontainers.image.title="flashtts (CUDA)" \
      org.opencontainers.image.description="Self-hosted text-to-speech server: Qwen3-TTS on vLLM (NVIDIA GPUs)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
USER flashtts
VOLUME ["/data"]
EXPOSE 8000 10200
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 CMD ["python", "-m", "flashtts.cli.healthcheck"]
ENTRYPOINT ["flashtts"]
CMD ["serve"]

# ---- cpu (default): Piper on ONNX Runtime, non-root, data in /data --------------------------------------
FROM python AS cpu
ARG VERSION=0.1.0
COPY --from=build /opt/flashtts /opt/flashtts
WORKDIR /data
# roles, the Hugging Face cache (models a --model_path Hub id downloads) and Piper's prepared models (made
# once per voice file) live in the /data volume
ENV PATH=/opt/flashtts/bin:$PATH PYTHONUNBUFFERED=1 HF_HOME=/data/huggingface FLASHTTS_CACHE_DIR=/data/cache \
    FLASHTTS_HOST=0.0.0.0 FLASHTTS_PORT=8000 FLASHTTS_WYOMING_PORT=10200 FLASHTTS_ROLE_DIR=/data/roles
LABEL org.opencontainers.image.title="flashtts" \
      org.opencontainers.image.description="Self-hosted text-to-speech server: OpenAI- and FlashTTS-compatible APIs, Wyoming; Piper on CPU" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
USER flashtts
VOLUME ["/data"]
EXPOSE 8000 10200
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-m", "flashtts.cli.healthcheck"]
# exec form: flashtts is PID 1 and receives SIGTERM from `docker stop` itself
ENTRYPOINT ["flashtts"]
CMD ["serve"]
