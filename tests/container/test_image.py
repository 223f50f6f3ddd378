"""The CPU image, run as users run it: ``run -p 8000:8000 -v VOLUME:/data IMAGE`` (on free ports here).

One container serves the module (started once: each start loads the engine); the last test stops it
with SIGTERM and starts a new container on the same volume. Speech is checked by faster-whisper on
the host, the Wyoming port with Home Assistant's own client.
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import httpx
import openai
import pytest
from containers import FIGURES, IMAGE, RUN_FLAGS, Container, cli, unique
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from live import to_16k
from support import HARVARD, wer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def volume():
    name = unique("data")
    cli("volume", "create", name)
    yield name
    cli("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def server(volume):
    container = Container(volume)
    try:
        FIGURES["first speech answer after run"] = f"{container.start():.1f} s"
        yield container
    finally:
        container.remove()


def test_image_is_under_1_gb():
    size = int(cli("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout.strip())
    FIGURES["image size"] = f"{size / 1e6:.0f} MB"
    assert size < 1e9


def test_health(server):
    body = httpx.get(server.url + "/health", timeout=30).json()
    assert body["status"] == "healthy" and body["engine"] == "piper", body
    assert httpx.get(server.url + "/ready", timeout=30).status_code == 200


def test_the_image_healthcheck_passes(server):
    """The HEALTHCHECK command, run in the container (as docker and podman run it)."""
    r = cli("exec", server.name, "python", "-m", "flashtts.cli.healthcheck", check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_openai_sdk_speech_is_heard_right(server, transcribe):
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    sentence = HARVARD[0]
    data = sdk.audio.speech.create(model="tts-1", voice="alloy", input=sentence).content
    heard = transcribe(to_16k(data))
    assert wer(sentence, heard) <= 0.2, heard


def test_runs_as_a_user_that_is_not_root(server):
    assert cli("exec", server.name, "id", "-u").stdout.strip() != "0"
    status = cli("exec", server.name, "cat", "/proc/1/status").stdout  # the server itself is PID 1 (exec form)
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert "0" not in uids, status
    assert "flashtts" in cli("exec", server.name, "cat", "/proc/1/cmdline").stdout


async def describe(port: int) -> Info:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        event = await asyncio.wait_for(client.read_event(), 30)
    assert event is not None and Info.is_type(event.type), event
    return Info.from_event(event)


async def test_wyoming_port_answers_describe(server):
    info = await describe(server.wyoming_port)
    (program,) = info.tts
    names = {voice.name for voice in program.voices}
    assert "joe" in names and {"narrator", "announcer"} <= names, names


@pytest.mark.parametrize("setting, message", [  # the others: tests/unit/test_startup_checks.py, in-process
    ({"FLASHTTS_PORT": "eighty"}, "FLASHTTS_PORT"),  # refused before anything loads
    # at start
    ({"FLASHTTS_MODEL_PATH": "/nowhere/voice.onnx"}, "could not start: no Piper voice at /nowhere/voice.onnx"),
])
def test_bad_settings_end_with_a_clear_message(setting, message):
    env = [a for k, v in setting.items() for a in ("-e", f"{k}={v}")]
    r = cli("run", "--rm", *env, *RUN_FLAGS, IMAGE, check=False,
            timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and message in out, out
    assert "Traceback" not in out, out


def test_an_unwritable_data_folder_ends_with_a_clear_message():
    """A host folder the container's user cannot write, mounted at /data (the common bind-mount mistake)."""
    with tempfile.TemporaryDirectory() as host_dir:
        os.chmod(host_dir, 0o555)
        r = cli("run", "--rm", *RUN_FLAGS, "-v", f"{host_dir}:/data",
                IMAGE, check=False, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "the role directory /data/roles cannot be written" in out and "FLASHTTS_ROLE_DIR" in out, out
    assert "Traceback" not in out, out


def test_sigterm_stops_it_cleanly_and_a_new_container_keeps_the_roles(server, volume):
    """Runs last: it stops the module's container."""
    r = httpx.post(server.url + "/add_speaker", data={"name": "Kept Voice", "voice": "joe", "speed": "1.2"},
                   timeout=60)
    assert r.status_code == 200, r.text

    code, seconds = server.stop(grace=30)
    FIGURES["stop (SIGTERM) to exit"] = f"{seconds:.1f} s, exit code {code}"
    assert code == 0, server.logs()  # 137 would mean SIGKILL after the grace
    assert "Application shutdown complete" in server.logs()
    server.remove()

    second = Container(volume)
    try:
        FIGURES["first speech answer after run, same volume"] = f"{second.start():.1f} s"
        roles = httpx.get(second.url + "/audio_roles", timeout=30).json()["roles"]
        assert "Kept Voice" in roles, roles
        r = httpx.post(second.url + "/speak", json={"name": "Kept Voice", "text": HARVARD[1]}, timeout=120)
        assert r.status_code == 200, r.text
        assert "Kept Voice" in {v.name for v in asyncio.run(describe(second.wyoming_port)).tts[0].voices}
    finally:
        second.remove()
