"""Acceptance of the ``flashtts`` command, run as a real process: engines, synth heard by speech recognition,
text from stdin, a start-up failure said in one line. Its failures, roles and serve's option errors
in-process: tests/unit/test_cli_commands.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from live import audio_info, to_16k
from support import HARVARD, ROOT, free_port, wer

pytestmark = pytest.mark.slow

FLASHTTS = Path(sys.executable).with_name("flashtts")  # the installed console script


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 180):
    """``flashtts ARGS`` in a clean environment (no FLASHTTS_* from the caller)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLASHTTS_")}
    return subprocess.run([str(FLASHTTS), *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env={**base, **(env or {})}, timeout=timeout)


def test_engines_lists_piper_and_what_it_can_do():
    assert FLASHTTS.is_file()
    out = run("engines")
    assert out.returncode == 0, out.stderr
    assert "piper" in out.stdout and "streaming" in out.stdout and "speed" in out.stdout
    rows = {row["name"]: row for row in json.loads(run("engines", "--json").stdout)}
    assert rows["piper"]["importable"] is True
    assert set(rows["piper"]["capabilities"]) >= {"streaming", "speed"} and "clone" not in rows["piper"]["capabilities"]


def test_synth_writes_valid_speech(tmp_path, transcribe):
    out_wav = tmp_path / "out.wav"
    r = run("synth", HARVARD[2], "-o", str(out_wav), "--role_dir", str(tmp_path / "roles"))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    with wave.open(str(out_wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() / 24000 > 1.0
    heard = transcribe(to_16k(out_wav.read_bytes()))
    print(repr(heard))
    assert wer(HARVARD[2], heard) <= 0.25  # nine words: two may be misheard


def test_synth_format_from_suffix_stdin_and_voice(tmp_path):
    out = tmp_path / "speech.mp3"
    r = run("synth", "-", "-o", str(out), "--voice", "narrator", "--role_dir", str(tmp_path / "roles"),
            stdin=HARVARD[4])
    assert r.returncode == 0, r.stderr
    seconds, rate, _ = audio_info(out.read_bytes())
    assert out.read_bytes()[:3] == b"ID3" and rate == 24000 and seconds > 1.0


def test_serve_whose_engine_cannot_start_says_why_in_one_line(tmp_path):
    missing = tmp_path / "missing.onnx"
    r = run("serve", "--model_path", str(missing), "--port", str(free_port()), "--role_dir", str(tmp_path / "roles"),
            timeout=120)
    assert r.returncode != 0
    assert f"flashtts could not start: no Piper voice at {missing}: neither a .onnx file" in r.stderr, r.stderr
    assert "(FileNotFoundError)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr

