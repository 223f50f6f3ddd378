"""Launch options from the documents: FlashTTS's serve options (seeds/002), ``--gpu``/``--workers``
(seeds/000), ``--compat`` and ``--result_cache_mb``; unknown options fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from flashtts.cli.main import app
from flashtts.config.compat import COMPAT_GROUPS, apply_launch_options, parse_gpus, parse_groups
from flashtts.config.settings import ServerConfig
from flashtts.engine import EngineConfig
from flashtts.serving.replicas import replica_devices
from flashtts.serving.result_cache import ResultCache

from fakes import FakeEngine
from support import app_client

runner = CliRunner()


def serve(*args: str):
    return runner.invoke(app, ["serve", *args])


def test_unknown_option_fails_clearly():
    result = serve("--no_such_option", "1")
    assert result.exit_code == 2
    assert "No such option" in result.output and "--no_such_option" in result.output


def test_gpu_on_a_machine_without_cuda_fails_clearly():
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    except ImportError:
        pass
    result = serve("--gpu", "0,1", "--workers", "4")
    assert result.exit_code == 2
    assert "--gpu 0,1" in result.output and "--workers N" in result.output


@pytest.mark.parametrize("args, fragment", [
    (("--gpu", "zero"), "--gpu wants CUDA device numbers"),
    (("--model", "/m", "--gpu", "zero"), "--gpu wants"),  # Qwen3-TTS FastAPI's --model is accepted
    (("--model_dir", "/m", "--gpu", "zero"), "--gpu wants"),  # CosyVoice's --model_dir too
    (("--compat", "qwen_fastapi,nonsense"), "unknown group(s) nonsense"),
    (("--workers", "0"), "--workers"),
    (("--result_cache_mb", "-1"), "--result_cache_mb"),
])
def test_bad_values_fail_clearly(args, fragment):
    result = serve(*args)
    assert result.exit_code == 2
    assert fragment in result.output


def test_flashtts_options_map_to_engine_options_or_notes():
    config = ServerConfig(engine_config=EngineConfig(extra={"attn": "eager"}))
    out, notes = apply_launch_options(config, flashtts={
        "llm_attn_implementation": "sdpa", "llm_gpu_memory_utilization": 0.6, "llm_batch_size": 16,
        "tokenizer_device": "cuda", "detokenizer_device": "cuda", "max_length": 32768,
        "cache_implementation": "static", "snac_path": "/x", "wav2vec_attn_implementation": "sdpa"})
    assert out.engine_config.batch_size == 16
    assert out.engine_config.extra == {"attn": "eager", "gpu_memory_utilization": "0.6"}  # --engine_opt wins
    text = "\n".join(notes)
    assert "--llm_attn_implementation sdpa ignored: --engine_opt attn=eager was given" in text
    for option in ("tokenizer_device", "detokenizer_device", "max_length", "cache_implementation", "snac_path",
                   "wav2vec_attn_implementation"):
        assert f"--{option} " in text and "not used" in text


def test_gpu_and_workers_map_to_replicas():
    assert parse_gpus("2,3") == (2, 3) and parse_gpus("cuda:1") == (1,) and parse_gpus(None) == ()
    # the document's example: --gpu 2,3 --workers 8 -> four on each card
    assert replica_devices(ServerConfig(gpu=(2, 3), workers=8)) == ["cuda:2", "cuda:3"] * 4
    assert replica_devices(ServerConfig(gpu=(0, 1))) == ["cuda:0", "cuda:1"]
    assert replica_devices(ServerConfig(workers=3, engine_config=EngineConfig(device="cpu"))) == ["cpu"] * 3
    assert replica_devices(ServerConfig()) == ["auto"]


def test_compat_groups():
    from flashtts.http.apis.compat import GROUPS

    assert tuple(GROUPS) == COMPAT_GROUPS  # --compat's names are the routers' groups
    assert parse_groups([]) is None and parse_groups(["all"]) is None
    assert parse_groups(["none"]) == ()
    assert parse_groups(["cosyvoice,selfhost", "cosyvoice"]) == ("cosyvoice", "selfhost")
    with pytest.raises(ValueError):
        parse_groups(["none,cosyvoice"])


async def test_compat_none_and_one_group(tmp_path):
    async with app_client(ServerConfig(role_dir=tmp_path / "roles", compat=("cosyvoice",)), FakeEngine()) as client:
        assert (await client.get("/languages")).status_code == 404
        assert (await client.post("/api/tts/synthesize", json={"text": "Hi"})).status_code == 404
        r = await client.post("/inference_sft", data={"tts_text": "Hi there.", "spk_id": "tone"})
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
    async with app_client(ServerConfig(role_dir=tmp_path / "roles", compat=()), FakeEngine()) as client:
        for path in ("/inference_sft", "/stream-tts", "/tts/voice_design", "/api/tts/synthesize"):
            assert (await client.post(path)).status_code == 404, path
        assert (await client.get("/health")).status_code == 200


def test_result_cache_is_an_lru_bounded_in_bytes():
    cache = ResultCache(max_bytes=100)
    cache.put("a", b"x" * 40, 1.0)
    cache.put("b", b"y" * 40, 1.0)
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", b"z" * 40, 1.0)  # 120 bytes: the least recent (b) goes
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    assert cache.bytes == 80
    cache.put("huge", b"h" * 101, 1.0)  # larger than the whole cache: not kept
    assert cache.get("huge") is None and len(cache) == 2
    assert not ResultCache(0).enabled


def test_cache_key_covers_text_voice_and_options():
    from flashtts.engine import GenerationOptions, ReferenceAudio, SynthesisRequest
    from flashtts.serving import Plan

    def plan(text="Hi", voice="joe", temperature=None, pitch=1.0, ref=None):
        seg = SynthesisRequest("r-0", text, voice=voice, reference=ref,
                               options=GenerationOptions(temperature=temperature))
        return Plan("r", "/x", [seg], "wav", 1.0, pitch, voice, len(text))

    base = ResultCache.key(plan())
    assert ResultCache.key(plan()) == base  # request ids do not matter
    ref = ReferenceAudio(np.ones(10, dtype=np.float32), 24000, "t")
    for other in (plan(text="Ho"), plan(voice="amy"), plan(temperature=0.5), plan(pitch=1.2), plan(ref=ref)):
        assert ResultCache.key(other) != base
