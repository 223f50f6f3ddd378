"""Acceptance: Piper's catalogue by name and voices loaded on demand, against real servers and a loopback Hub
(``tests/loopback_hub.py``) serving the real joe files under catalogue names.

First use downloads into the Hugging Face cache and the second start runs offline from it; a voice
neither cached nor reachable is a clear error naming ``flashtts download``; a name not in ``voices.json``
is a 400 (and a start error) listing close names; an interrupted download is never loaded; several
voices are listed (``/v1/audio/voices``, Wyoming ``describe`` with their languages) and served at once;
a voice left idle is unloaded and the server's memory comes back down; the default server starts
without the modules only some requests need.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from tools.live_server import ServerFailed

from live import assert_openai_error, serving, to_16k
from loopback_hub import PIPER_REPO, piper_catalogue
from support import HARVARD, ROOT, free_port, wer

pytestmark = pytest.mark.slow

NAMES = ["en_GB-alba-medium", "en_US-amy-medium", "en_US-ryan-medium", "en_US-kristin-medium"]
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
MIB = 2**20


def start_hub(folder: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    hub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback_hub.py"), str(folder), PIPER_REPO, COMMIT,
                            *extra], stdout=subprocess.PIPE, text=True)
    assert hub.stdout is not None
    return hub, f"http://127.0.0.1:{int(hub.stdout.readline())}"


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory) -> Path:
    return piper_catalogue(tmp_path_factory.mktemp("piper-voices"), NAMES)


@pytest.fixture(scope="module")
def hub(hub_folder):
    process, url = start_hub(hub_folder)
    yield url
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flashtts-cache")


def hf_env(home: Path, model_cache: Path, hub: str | None) -> dict[str, str]:
    """The Hugging Face cache under ``home``; the loopback Hub, or offline when ``hub`` is None. Online says
    so explicitly: importing qwen_tts in this process (the Qwen3 tests of the same run) sets
    HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE, which a server started with this environment would inherit."""
    env = {"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "FLASHTTS_CACHE_DIR": str(model_cache),
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_ETAG_TIMEOUT": "60", "HF_HUB_DOWNLOAD_TIMEOUT": "60"}
    if hub:
        return {**env, "HF_ENDPOINT": hub, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}
    return {**env, "HF_HUB_OFFLINE": "1"}


def flashtts(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    return subprocess.run([sys.executable, "-m", "flashtts", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**clean, **env})


def cached(home: Path, name: str) -> bool:
    return any((home / "hub").glob(f"models--rhasspy--piper-voices/snapshots/*/*/*/*/*/{name}.onnx"))


def server_info(url: str) -> dict:
    return httpx.get(url + "/server_info", timeout=30).json()


def loaded(url: str) -> list[str]:
    return [v["id"] for v in server_info(url)["engine_stats"]["loaded_voices"]]


def speak(url: str, voice: str, text: str = HARVARD[0]) -> httpx.Response:
    return httpx.post(url + "/v1/audio/speech", timeout=120,
                      json={"input": text, "voice": voice, "response_format": "wav"})


async def describe(port: int) -> Info:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), 30)
            assert event is not None
            if Info.is_type(event.type):
                return Info.from_event(event)


def test_catalogue_voices_download_on_first_use_then_serve_offline(hub, model_cache, tmp_path, transcribe):
    home = tmp_path / "hf"
    port = free_port()
    alba, amy = NAMES[0], NAMES[1]
    with serving(tmp_path, "--model_path", alba, "--engine_opt", "catalogue=1", "--wyoming_port", str(port),
                 "--voice_idle_timeout", "2", env=hf_env(home, model_cache, hub)) as server:
        assert cached(home, alba) and not cached(home, amy)  # the default voice at start, the others when asked
        listed = httpx.get(server.url + "/v1/audio/voices", timeout=30).json()["data"]
        assert [v["id"] for v in listed if v["kind"] == "builtin"] == [alba, *sorted(NAMES[1:])]
        info = asyncio.run(describe(port))
        languages = {v.name: v.languages for v in info.tts[0].voices}
        assert languages[alba] == ["en_GB"] and languages[amy] == ["en_US"]
        assert loaded(server.url) == [alba]
        assert speak(server.url, alba).status_code == 200
        one_voice = server_info(server.url)["rss_mib"]

        r = speak(server.url, amy)  # not served until now: downloaded on first use
        assert r.status_code == 200, r.text
        assert wer(HARVARD[0], transcribe(to_16k(r.content, "wav"))) <= 0.2
        assert cached(home, amy) and loaded(server.url) == [alba, amy]
        assert server_info(server.url)["rss_mib"] > one_voice + 30  # amy's weights are in memory now

        err = assert_openai_error(speak(server.url, "en_GB-alba-mediun"), 400)
        assert "close names: en_GB-alba-medium" in err["message"] and err["param"] == "voice"

        deadline = time.monotonic() + 30
        while loaded(server.url) != [alba] and time.monotonic() < deadline:  # idle past --voice_idle_timeout
            time.sleep(0.5)
        assert loaded(server.url) == [alba]
        assert server_info(server.url)["rss_mib"] <= one_voice * 1.1  # the memory came back

    # the second start is offline: both voices (repeatable --model_path) from the cache
    with serving(tmp_path, "--model_path", alba, "--model_path", amy, env=hf_env(home, model_cache, None)) as server:
        assert [v["id"] for v in listed_voices(server.url)] == [alba, amy]
        assert speak(server.url, amy).status_code == 200

    # offline, a voice never downloaded: the start fails saying what to prefetch
    with pytest.raises(ServerFailed) as failed, serving(tmp_path, "--model_path", NAMES[2],
                                                        env=hf_env(home, model_cache, None)):
        pass
    assert f"flashtts download {NAMES[2]}" in " ".join(str(failed.value).split())


def listed_voices(url: str) -> list[dict]:
    return [v for v in httpx.get(url + "/v1/audio/voices", timeout=30).json()["data"] if v["kind"] == "builtin"]


def test_a_name_not_in_the_catalogue_lists_close_names(hub, model_cache, tmp_path):
    done = flashtts("download", "en_US-amy-meduim", env=hf_env(tmp_path / "hf", model_cache, hub))
    assert done.returncode == 1 and "close names: en_US-amy-medium" in done.stderr, done.stderr[-2000:]


def test_an_interrupted_download_is_never_loaded(hub, hub_folder, model_cache, tmp_path):
    home, name = tmp_path / "hf", NAMES[3]
    stalled, url = start_hub(hub_folder, "--stall", f"{name}.onnx:{24 * MIB}")  # huggingface_hub writes 10 MiB blocks
    try:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        fetching = subprocess.Popen([sys.executable, "-m", "flashtts", "download", name], cwd=ROOT,
                                    env={**clean, **hf_env(home, model_cache, url)},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size >= 10 * MIB for p in home.glob("hub/**/*.incomplete")):
            assert time.monotonic() < deadline and fetching.poll() is None, "the download did not start"
            time.sleep(0.2)
        fetching.kill()  # cut off mid-file
        fetching.wait()
    finally:
        stalled.kill()
        stalled.wait()
    assert not cached(home, name)
    with pytest.raises(ServerFailed) as failed, serving(tmp_path, "--model_path", name,
                                                        env=hf_env(home, model_cache, None)):
        pass
    assert f"flashtts download {name}" in " ".join(str(failed.value).split())
    done = flashtts("download", name, env=hf_env(home, model_cache, hub))  # the Hub is back: it completes
    assert done.returncode == 0, done.stderr[-2000:]
    fetched = hub_folder / "en/en_US/kristin/medium" / f"{name}.onnx"
    assert Path(done.stdout.strip()).stat().st_size == fetched.stat().st_size


def test_the_default_server_starts_without_what_only_some_requests_need(tmp_path):
    """Compressed-audio encoders (PyAV), Wyoming, the HTTP client, the Hub client, the model patcher
    (onnx) and the other engines load when something needs them, not at start."""
    probe = ("import asyncio, sys\n"
             "from asgi_lifespan import LifespanManager\n"
             "from flashtts.http.app import create_app\n"
             "from flashtts.config.settings import ServerConfig\n"
             "async def main():\n"
             f"    config = ServerConfig(role_dir=__import__('pathlib').Path({str(tmp_path)!r}))\n"
             "    async with LifespanManager(create_app(config)):\n"
             "        print(' '.join(sorted(sys.modules)))\n"
             "asyncio.run(main())\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    modules = set(done.stdout.split())
    assert "flashtts_engines.piper" in modules
    for lazy in ("av", "wyoming", "huggingface_hub", "onnx", "httpx", "flashtts_engines.qwen3", "torch"):
        assert lazy not in modules, lazy
