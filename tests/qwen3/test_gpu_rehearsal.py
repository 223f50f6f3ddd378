"""``benchmarks/gpu/run.sh`` rehearsed end to end on CPU in this environment: import check, self-check, tiny
checkpoint, server, every bench phase, the reference baseline, the summary, and a results folder within
the device's limits (``make gpu-rehearsal`` does the same in a venv holding only the GPU image's packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))
import check_results  # noqa: E402


@pytest.mark.timeout(1600)  # the run's own phase budgets bound it (a few minutes on an idle 2-core machine)
def test_gpu_script_rehearses_on_cpu(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "WHEELS": str(tmp_path / "no-wheels"),
           "SITE": str(tmp_path / "site"), "SCRATCH": str(tmp_path / "scratch"), "OUT": str(out)}
    proc = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--device", "cpu", "--rehearsal", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # carried to the GPU machine, not installed by `make install-dev`: faster-qwen3-tts (CUDA only) and the
    # dashscope wheel's qwen.tiktoken (full-size checkpoints only); `make gpu-rehearsal` has both
    allowed = ("faster_qwen3_tts", "qwen.tiktoken")
    assert check_results.problems(out, rehearsal=True, allow_missing=allowed) == [], proc.stdout[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [p["mode"] for p in summary["flashtts"]["poisson"]] == ["poisson"]
    assert summary["phases"]["selfcheck"]["status"] == "ok" and summary["imports"]["av_imported_by_server"] is False
    assert sorted(p.name for p in out.iterdir()) == ["run.log", "server.log", "summary.json", "summary.png"]
