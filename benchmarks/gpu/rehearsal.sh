#!/bin/bash
# make gpu-rehearsal: the GPU run on this CPU, in a clean venv that holds only what the GPU image has
# (benchmarks/gpu/rehearsal.txt, pinned to the image's versions where PyPI has them for this Python),
# plus wheels.txt's pins for this Python installed by run.sh exactly as on the GPU (--no-index --no-deps
# --target); then the results folder is checked against the device's limits and every phase.
# REHEARSAL (default /tmp/flashtts-gpu-rehearsal): where the venv, wheels, site, scratch and results go; a venv
# left there by an earlier rehearsal of the same rehearsal.txt is reused (delete the folder for a clean one).
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${REHEARSAL:-/tmp/flashtts-gpu-rehearsal}
PYTHON=${PYTHON:-python3}
V="$R/venv/bin/python"
if [ -x "$V" ] && cmp -s benchmarks/gpu/rehearsal.txt "$R/venv/rehearsal.txt"; then
  echo "== reusing the venv of the image's packages ($R/venv)"
  rm -rf "$R/whl" "$R/site" "$R/scratch" "$R/out"
else
  rm -rf "$R"
  mkdir -p "$R"
  echo "== clean venv with the image's packages ($R/venv)"
  "$PYTHON" -m venv "$R/venv"
  "$V" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$V" -m pip install -q -r benchmarks/gpu/rehearsal.txt 2>&1 | grep -v "^WARNING: Location" || true
  "$V" -m pip install -q --no-deps torchaudio==2.11.0 2>&1 | grep -v "^WARNING: Location" || true
  cp benchmarks/gpu/rehearsal.txt "$R/venv/rehearsal.txt"
fi
"$V" - <<'PY'
import importlib.metadata as md, sys
sys.path.insert(0, "benchmarks/gpu")
from manifest import IMAGE, normalize, read_list
image = set(read_list(IMAGE))
names = {normalize(d.metadata["Name"]) for d in md.distributions()}
extra = sorted(names - image - {"pip", "setuptools", "wheel", "flashtts"})  # flashtts: this checkout's egg-info
if extra:
    sys.exit(f"the rehearsal venv holds packages the GPU image lacks (add them to image.txt only if the image has "
             f"them, else carry them in wheels.txt): {extra}")
print("venv: only the image's packages")
PY
echo "== wheels.txt for this Python ($R/whl)"
"$V" benchmarks/gpu/wheels.py --local --dest "$R/whl"
echo "== the run (run.sh --device cpu)"
WHEELS="$R/whl" SITE="$R/site" SCRATCH="$R/scratch" PYTHON="$V" OUT="$R/out" \
  bash benchmarks/gpu/run.sh --device cpu --rehearsal --out "$R/out"
echo "== results"
ls -la "$R/out"
"$V" benchmarks/gpu/check_results.py "$R/out" --rehearsal
