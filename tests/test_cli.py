"""The ``flashtts`` command, run as a real process: engines, synth, roles, serve's failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import httpx
import pytest

from live import audio_info, to_16k
from support import HARVARD, ROOT, free_port, wer

from flashtts.audio import encode

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


@pytest.mark.parametrize("args, message", [
    (["Hello.", "--voice", "nobody"], "unknown voice 'nobody'"),
    (["", ], "empty"),
    (["Hello.", "-o", "out.xyz"], "xyz"),
    (["Hello.", "--engine", "nope"], "unknown engine 'nope'"),
    (["Hello.", "--speed", "10"], "speed"),
], ids=["voice", "empty", "suffix", "engine", "speed"])
def test_synth_failures_are_clear(tmp_path, args, message):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "x.wav")]
    else:
        args = [a if a != "out.xyz" else str(tmp_path / "out.xyz") for a in args]
    r = run("synth", *args, "--role_dir", str(tmp_path / "roles"))
    assert r.returncode != 0
    assert message in r.stderr + r.stdout, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.wav").exists()


def test_roles_add_list_delete(tmp_path, live_server):
    role_dir = tmp_path / "roles"
    clip = tmp_path / "clip.wav"
    import numpy as np

    t = np.arange(48000) / 24000
    clip.write_bytes(encode((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 24000, "wav"))

    r = run("roles", "add", "quick", "--voice", "joe", "--speed", "1.4", "--role_dir", str(role_dir))
    assert r.returncode == 0 and "added role quick" in r.stdout, r.stderr
    r = run("roles", "add", "cloned", "--audio", str(clip), "--reference_text", "A tone.", "--role_dir", str(role_dir))
    assert r.returncode == 0, r.stderr
    listing = run("roles", "list", "--role_dir", str(role_dir))
    assert listing.returncode == 0
    lines = {line.split("\t")[0]: line for line in listing.stdout.splitlines()}
    assert {"quick", "cloned"} <= set(lines)
    assert "voice=joe" in lines["quick"] and "clone" in lines["cloned"] and "A tone." in lines["cloned"]

    # refused: the same name again, path tricks, a file that is not audio, deleting what is not there
    assert run("roles", "add", "quick", "--voice", "joe", "--role_dir", str(role_dir)).returncode != 0
    bad = run("roles", "add", "../x", "--voice", "joe", "--role_dir", str(role_dir))
    assert bad.returncode != 0 and "invalid role name" in bad.stderr
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio " * 100)
    bad = run("roles", "add", "junk", "--audio", str(junk), "--role_dir", str(role_dir))
    assert bad.returncode != 0 and "not a readable audio file" in bad.stderr
    assert "Traceback" not in bad.stderr

    # a server on the same directory sees the CLI's roles and speaks with the preset one
    server = live_server("--role_dir", str(role_dir))
    assert {"quick", "cloned"} <= set(httpx.get(server.url + "/audio_roles").json()["roles"])
    r = httpx.post(server.url + "/speak", json={"name": "quick", "text": "Hello.", "response_format": "wav"},
                   timeout=60)
    assert r.status_code == 200
    server.stop()

    r = run("roles", "delete", "quick", "--role_dir", str(role_dir))
    assert r.returncode == 0 and "deleted role quick" in r.stdout
    assert "quick" not in run("roles", "list", "--role_dir", str(role_dir)).stdout
    again = run("roles", "delete", "quick", "--role_dir", str(role_dir))
    assert again.returncode != 0 and "quick" in again.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_serve_with_unknown_engine_fails_clearly(tmp_path, how):
    if how == "option":
        r = run("serve", "--engine", "nope", "--role_dir", str(tmp_path / "roles"), timeout=60)
    else:
        r = run("serve", "--role_dir", str(tmp_path / "roles"), env={"FLASHTTS_ENGINE": "nope"}, timeout=60)
    assert r.returncode != 0
    assert "unknown engine 'nope'" in r.stderr and "piper" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "roles").exists()  # it failed before touching anything


def test_serve_whose_engine_cannot_start_says_why_in_one_line(tmp_path):
    missing = tmp_path / "missing.onnx"
    r = run("serve", "--model_path", str(missing), "--port", str(free_port()), "--role_dir", str(tmp_path / "roles"),
            timeout=120)
    assert r.returncode != 0
    assert f"flashtts could not start: no Piper .onnx voice at {missing} (FileNotFoundError)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr


def test_serve_rejects_bad_options(tmp_path):
    r = run("serve", "--queue_limit", "0", "--role_dir", str(tmp_path / "roles"), timeout=60)
    assert r.returncode == 2 and "queue" in r.stderr.lower()
    r = run("serve", "--no-such-option", timeout=60)
    assert r.returncode == 2 and "no-such-option" in r.stderr


def test_serve_help_names_every_option_and_its_environment_variable():
    r = run("serve", "--help", env={"COLUMNS": "250", "TERM": "dumb"})
    assert r.returncode == 0
    for option, env in [("--engine", "FLASHTTS_ENGINE"), ("--model_path", "FLASHTTS_MODEL_PATH"),
                        ("--backend", "FLASHTTS_BACKEND"), ("--device", "FLASHTTS_DEVICE"),
                        ("--dtype", "FLASHTTS_DTYPE"), ("--role_dir", "FLASHTTS_ROLE_DIR"),
                        ("--api_key", "FLASHTTS_API_KEY"), ("--host", "FLASHTTS_HOST"), ("--port", "FLASHTTS_PORT"),
                        ("--batch_size", "FLASHTTS_BATCH_SIZE"), ("--wait_timeout", "FLASHTTS_WAIT_TIMEOUT"),
                        ("--queue_limit", "FLASHTTS_QUEUE_LIMIT"), ("--request_timeout", "FLASHTTS_REQUEST_TIMEOUT"),
                        ("--seed", "FLASHTTS_SEED"), ("--log_level", "FLASHTTS_LOG_LEVEL")]:
        assert option in r.stdout, option
        assert env in r.stdout, env
