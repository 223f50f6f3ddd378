"""Fuzz every route of the project's own OpenAPI schema (schemathesis) against a real server on
loopback: no 5xx and no hang. Bounded: a fixed seed, a fixed number of examples per operation,
a per-request timeout (a hang fails the run) and an overall timeout."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_fuzz_every_route_finds_no_server_error_and_no_hang(module_server, tmp_path):
    # short texts keep each synthesis quick; every other limit is the default
    server = module_server("--max_text_chars", "300", "--request_timeout", "30")
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/v1/audio/speech" in paths and "/add_speaker" in paths
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
           "--checks", "not_a_server_error", "--max-examples", "12", "--seed", "20261123", "--workers", "2",
           "--request-timeout", "60", "--no-shrink", "--phases", "examples,coverage,fuzzing",
           "--suppress-health-check", "all", "--warnings", "off"]
    try:
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=540)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"fuzz run did not finish in time:\n{(exc.stdout or '')[-4000:]}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"schemathesis found failures:\n{out[-6000:]}\n--- server log ---\n{server.log()}"
    assert "passed" in out and "Tested:" in out
    # the server is still healthy and answered no 5xx of its own
    assert httpx.get(server.url + "/ready").status_code == 200
    assert "Traceback" not in server.log()
