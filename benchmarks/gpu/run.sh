#!/bin/bash
# The GPU run: build a random-weight Qwen3-TTS CustomVoice checkpoint on the device, serve it with
# `flashtts serve --engine qwen3 --backend static`, run `flashtts bench` (1 stream, Poisson 10/20/40
# req/s, closed loop 32/64/128 streams) and the one-stream baselines (reference generate,
# faster-qwen3-tts); JSON + PNG into one folder. Run from the repository root.
#
#   GPU (H200, no network; wheels carried, see ../shared/tools/gpu/README.md):
#     WHEELS=DIR bash benchmarks/gpu/run.sh --out $OUT/gpu
#   CPU rehearsal (tiny checkpoint, small load points; what CI runs):
#     bash benchmarks/gpu/run.sh --device cpu --size tiny --rehearsal --out /tmp/gpu-rehearsal
#
# WHEELS (optional): a folder of wheels installed with --no-index --no-deps into /tmp/site first
# (transformers-5 qwen_tts, faster-qwen3-tts, dashscope for qwen.tiktoken, flashtts's own deps),
# and this repository is installed there too. Without WHEELS the current python is used as it is.
# PYTHON: the interpreter (default python3). Every other argument goes to benchmarks/gpu/run.py.
set -eo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=${PYTHON:-python3}
T0=$(date +%s)
if [ -n "$WHEELS" ]; then
  SITE=${SITE:-/tmp/site}
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" .
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  echo "setup $(( $(date +%s) - T0 )) s"
fi
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; } || true
"$PY" -c "import sys, torch, transformers; print(sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__)"
exec "$PY" benchmarks/gpu/run.py "$@"
