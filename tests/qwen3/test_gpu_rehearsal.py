"""``benchmarks/gpu/run.sh`` rehearsed end to end on CPU: server, every bench, baselines, summary, on the
session's tiny no-EOS checkpoint (given as ``--checkpoint``, as a GPU run reuses one; the builder's command,
``flashtts dev make-checkpoint``, is tested in tests/qwen3/test_checkpoint.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_gpu_script_rehearses_on_cpu(tmp_path, qwen3_no_eos_checkpoint):
    out = tmp_path / "run"
    proc = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--device", "cpu", "--size", "tiny", "--rehearsal",
                           "--checkpoint", str(qwen3_no_eos_checkpoint), "--out", str(out)], cwd=ROOT,
                          env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    runs = summary["flashtts"]
    assert set(runs) == {"one_stream", "poisson", "closed_loop"}
    for name, points in runs.items():
        for p in points:
            assert p["ok"] == p["requests"] > 0 and p["errors"] == 0, (name, p)
            assert p["audio_seconds"] > 0 and p["ttfa_p95"] is not None
    assert [p["mode"] for p in runs["poisson"]] == ["poisson"]
    ref = summary["baselines"]["systems"]["reference_generate"]
    assert ref["audio_s_per_wall_s"] > 0, ref
    assert "CUDA only" in summary["baselines"]["systems"]["faster_qwen3_tts"]["skipped"]
    assert (out / "one_stream.json").is_file() and (out / "closed_loop.json").is_file()
