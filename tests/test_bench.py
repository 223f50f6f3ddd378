"""The benchmark harness runs against a real server (a short smoke run, as in CI)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_smoke(piper_server, tmp_path):
    server = piper_server
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "flashtts", "bench", "--url", server.url, "--concurrency", "2", "--rate", "4",
         "--requests", "4", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert [r["mode"] for r in report["runs"]] == ["poisson", "concurrency"]
    for run in report["runs"]:
        assert run["ok"] == 4 and run["errors"] == 0
        assert run["audio_seconds"] > 4 * 1.5  # every text is a sentence of several seconds
        assert 0 < run["ttfa_p50"] <= run["latency_p50"]
    assert "ttfa p50" in proc.stdout
    png = out.with_suffix(".png")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
