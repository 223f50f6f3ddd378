"""The ``flashtts`` command in-process (Typer's CliRunner): synth's and serve's failures are clear, roles
add/list/delete manage the registry a server then reads, help names every option and its variable. The
command as a real process (engines, synth heard by speech recognition, stdin): tests/test_cli.py."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from flashtts.audio import encode
from flashtts.cli.main import app
from flashtts.config.settings import ServerConfig
from flashtts.engine import VoiceInfo

from fakes import FakeEngine
from support import app_client

CLEAN = {"FLASHTTS_ENGINE": None, "FLASHTTS_ROLE_DIR": None, "FLASHTTS_API_KEY": None}  # none from the caller


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), env={**CLEAN, **(env or {})}, input=stdin)


@pytest.mark.parametrize("args, message", [
    (["Hello.", "--voice", "nobody"], "unknown voice 'nobody'"),
    (["", ], "empty"),
    (["Hello.", "-o", "out.xyz"], "xyz"),
    (["Hello.", "--engine", "nope"], "unknown engine 'nope'"),
    (["Hello.", "--speed", "10"], "speed"),
    (["Hello.", "--engine_opt", "nokeyvalue"], "key=value"),
], ids=["voice", "empty", "suffix", "engine", "speed", "engine_opt"])
def test_synth_failures_are_clear(tmp_path, args, message):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "x.wav")]
    else:
        args = [a if a != "out.xyz" else str(tmp_path / "out.xyz") for a in args]
    r = run("synth", *args, "--role_dir", str(tmp_path / "roles"))
    assert r.exit_code != 0
    assert message in r.stderr + r.stdout, (r.stdout, r.stderr)
    assert r.exception is None or isinstance(r.exception, SystemExit)  # a message, no traceback
    assert not (tmp_path / "x.wav").exists()


async def test_roles_add_list_delete(tmp_path):
    role_dir = tmp_path / "roles"
    clip = tmp_path / "clip.wav"
    t = np.arange(48000) / 24000
    clip.write_bytes(encode((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 24000, "wav"))

    r = run("roles", "add", "quick", "--voice", "joe", "--speed", "1.4", "--role_dir", str(role_dir))
    assert r.exit_code == 0 and "added role quick" in r.stdout, r.stderr
    r = run("roles", "add", "cloned", "--audio", str(clip), "--reference_text", "A tone.",
            env={"FLASHTTS_ROLE_DIR": str(role_dir)})  # serve's variable names the same folder
    assert r.exit_code == 0, r.stderr
    listing = run("roles", "list", "--role_dir", str(role_dir))
    assert listing.exit_code == 0
    lines = {line.split("\t")[0]: line for line in listing.stdout.splitlines()}
    assert {"quick", "cloned"} <= set(lines)
    assert "voice=joe" in lines["quick"] and "clone" in lines["cloned"] and "A tone." in lines["cloned"]

    # refused: the same name again, path tricks, a file that is not audio, deleting what is not there
    assert run("roles", "add", "quick", "--voice", "joe", "--role_dir", str(role_dir)).exit_code != 0
    bad = run("roles", "add", "../x", "--voice", "joe", "--role_dir", str(role_dir))
    assert bad.exit_code != 0 and "invalid role name" in bad.stderr
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio " * 100)
    bad = run("roles", "add", "junk", "--audio", str(junk), "--role_dir", str(role_dir))
    assert bad.exit_code != 0 and "not a readable audio file" in bad.stderr

    # a server on the same directory sees the CLI's roles and speaks with the preset one
    engine = FakeEngine(voices=(VoiceInfo("joe", "Joe", "a male tone", "en"),))
    async with app_client(ServerConfig(role_dir=role_dir), engine) as client:
        assert {"quick", "cloned"} <= set((await client.get("/audio_roles")).json()["roles"])
        r = await client.post("/speak", json={"name": "quick", "text": "Hello.", "response_format": "wav"})
        assert r.status_code == 200
    assert [(q.voice, q.speed) for q in engine.requests] == [("joe", 1.4)]

    r = run("roles", "delete", "quick", "--role_dir", str(role_dir))
    assert r.exit_code == 0 and "deleted role quick" in r.stdout
    assert "quick" not in run("roles", "list", "--role_dir", str(role_dir)).stdout
    again = run("roles", "delete", "quick", "--role_dir", str(role_dir))
    assert again.exit_code != 0 and "quick" in again.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_serve_with_unknown_engine_fails_clearly(tmp_path, how):
    if how == "option":
        r = run("serve", "--engine", "nope", "--role_dir", str(tmp_path / "roles"))
    else:
        r = run("serve", "--role_dir", str(tmp_path / "roles"), env={"FLASHTTS_ENGINE": "nope"})
    assert r.exit_code == 2
    assert "unknown engine 'nope'" in r.stderr and "piper" in r.stderr, r.stderr
    assert not (tmp_path / "roles").exists()  # it failed before touching anything


def test_serve_rejects_bad_options(tmp_path):
    r = run("serve", "--queue_limit", "0", "--role_dir", str(tmp_path / "roles"))
    assert r.exit_code == 2 and "queue" in r.stderr.lower()
    r = run("serve", "--no-such-option")
    assert r.exit_code == 2 and "no-such-option" in r.stderr
    r = run("serve", "--engine_opt", "nokeyvalue", "--role_dir", str(tmp_path / "roles"))
    assert r.exit_code == 2 and "key=value" in r.stderr


def test_serve_help_names_every_option_and_its_environment_variable():
    r = run("serve", "--help", env={"COLUMNS": "250", "TERM": "dumb"})
    assert r.exit_code == 0
    for option, env in [("--engine", "FLASHTTS_ENGINE"), ("--model_path", "FLASHTTS_MODEL_PATH"),
                        ("--backend", "FLASHTTS_BACKEND"), ("--device", "FLASHTTS_DEVICE"),
                        ("--dtype", "FLASHTTS_DTYPE"), ("--role_dir", "FLASHTTS_ROLE_DIR"),
                        ("--api_key", "FLASHTTS_API_KEY"), ("--host", "FLASHTTS_HOST"), ("--port", "FLASHTTS_PORT"),
                        ("--batch_size", "FLASHTTS_BATCH_SIZE"), ("--wait_timeout", "FLASHTTS_WAIT_TIMEOUT"),
                        ("--queue_limit", "FLASHTTS_QUEUE_LIMIT"), ("--request_timeout", "FLASHTTS_REQUEST_TIMEOUT"),
                        ("--seed", "FLASHTTS_SEED"), ("--log_level", "FLASHTTS_LOG_LEVEL")]:
        assert option in r.stdout, option
        assert env in r.stdout, env
