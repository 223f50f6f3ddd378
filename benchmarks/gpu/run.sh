#!/bin/bash
# The GPU run (fail-soft, about 6 minutes): install the carried wheels, check every import, then
# benchmarks/gpu/run.py (self-check, 1.7B checkpoint, flashtts serve + bench, baselines, summary).
# From the repository root of a copy on the GPU machine, with .whl/ carried (make gpu-wheels):
#
#     bash benchmarks/gpu/run.sh            # results (4 files) into $OUT, scratch in /tmp
#
# The CPU rehearsal of the same script (make gpu-rehearsal) sets PYTHON, WHEELS and SITE and passes
# --device cpu. Every argument goes to run.py (--out, --device, --rehearsal, --total).
# Environment: PYTHON (python3), WHEELS (.whl), SITE (/tmp/site), SCRATCH (/tmp/flashtts-gpu-run), OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
export SCRATCH=${SCRATCH:-/tmp/flashtts-gpu-run}
mkdir -p "$SCRATCH"
exec > >(tee -a "$SCRATCH/run.log") 2>&1
T0=$(date +%s)
echo "== setup: $(date -u +%FT%TZ) in $(pwd)"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; } || true
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
    2>&1 | grep -v "^WARNING: Target directory" | tail -5
else
  echo "no wheels in $WHEELS: using $PY's own packages"
fi
"$PY" benchmarks/gpu/site_install.py "$SITE" >/dev/null || echo "site_install failed"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
echo "== setup took $(( $(date +%s) - T0 )) s; checking imports"
timeout 120 "$PY" benchmarks/gpu/check_imports.py "$SCRATCH/imports.json" || echo "import check failed or timed out"
echo "== run.py after $(( $(date +%s) - T0 )) s of setup"
"$PY" benchmarks/gpu/run.py "$@"
echo "== run.sh done in $(( $(date +%s) - T0 )) s"
