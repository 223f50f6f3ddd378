"""Helpers for the Qwen3-TTS engine tests: run the engine and the reference package side by side."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from support import need

torch = need("torch", "the qwen extra: pip install -e '.[dev,qwen]'")

from flashtts.engine import EngineConfig, GenerationOptions, ReferenceAudio, SynthesisRequest  # noqa: E402
from flashtts.metrics import Metrics  # noqa: E402

KINDS = ("custom_voice", "voice_design", "base")
SR = 24000
SPF = 1920  # samples per codec frame

TEXTS = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "She said she would be here by noon. This is a tiny test of the text to speech server.",
]


def reference_generate(model, kind: str, text: str, *, max_new_tokens: int, speaker: str | None = None,
                       instruct: str | None = None, language: str = "auto", ref_audio=None,
                       ref_text: str | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Greedy ``generate_*`` of the reference package for one request: (codec frames, waveform)."""
    captured: dict[str, Any] = {}
    tok = model.model.speech_tokenizer
    orig = tok.decode

    def spy(enc, orig=orig):
        captured["codes"] = enc[0]["audio_codes"].detach().cpu().clone()
        return orig(enc)

    tok.decode = spy
    kw = dict(language=language, do_sample=False, subtalker_dosample=False, max_new_tokens=max_new_tokens)
    try:
        if kind == "custom_voice":
            wavs, sr = model.generate_custom_voice(text, speaker=speaker, instruct=instruct, **kw)
        elif kind == "voice_design":
            wavs, sr = model.generate_voice_design(text, instruct=instruct or "", **kw)
        else:
            wavs, sr = model.generate_voice_clone(text, ref_audio=ref_audio, ref_text=ref_text,
                                                  x_vector_only_mode=not ref_text, **kw)
    finally:
        del tok.decode
    assert sr == SR
    codes = captured["codes"]
    if kind == "base" and ref_text:  # the reference decodes reference codes + new codes together
        prompt = model.create_voice_clone_prompt(ref_audio=ref_audio, ref_text=ref_text)[0]
        codes = codes[prompt.ref_code.shape[0]:]
    return codes, wavs[0]


def reference_audio(seconds: float = 1.6, seed: int = 3, sr: int = SR, text: str | None = "Hello world.",
                    key: str | None = None, cache_dir: Path | None = None) -> ReferenceAudio:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    samples = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
               + 0.02 * rng.standard_normal(t.shape)).astype(np.float32)
    return ReferenceAudio(samples=samples, sample_rate=sr, text=text, cache_key=key, cache_dir=cache_dir)


@contextlib.asynccontextmanager
async def running_engine(path: Path, *, batch_size: int = 8, wait_timeout: float = 0.0, extra=None,
                         metrics: Metrics | None = None, record: bool = True, backend: str = "torch"):
    from flashtts_engines.qwen3 import Qwen3Engine

    cfg = EngineConfig(model_path=str(path), backend=backend, device="cpu", dtype="float32", batch_size=batch_size,
                       wait_timeout=wait_timeout, extra={"threads": "1", **(extra or {})})
    engine = Qwen3Engine(cfg, metrics or Metrics())
    await engine.start()
    if record:
        engine.record_codes = {}
    try:
        yield engine
    finally:
        await engine.stop()


def request(text: str, *, voice: str | None = None, instructions: str | None = None, language: str = "auto",
            reference: ReferenceAudio | None = None, stream: bool = False, **opts) -> SynthesisRequest:
    return SynthesisRequest(request_id=f"t-{uuid.uuid4().hex[:8]}", text=text, voice=voice,
                            instructions=instructions, language=language, reference=reference, stream=stream,
                            options=GenerationOptions(**opts))


async def collect(engine, req: SynthesisRequest, started: asyncio.Event | None = None,
                  times: list[float] | None = None) -> list[np.ndarray]:
    chunks = []
    loop = asyncio.get_running_loop()
    async for chunk in engine.synthesize(req):
        chunks.append(chunk)
        if times is not None:
            times.append(loop.time())
        if started is not None:
            started.set()
    return chunks


def assert_audio_equal(ours: np.ndarray, ref: np.ndarray, atol: float = 2e-6) -> None:
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    diff = float(np.max(np.abs(ours - ref))) if ours.size else 0.0
    assert diff <= atol, f"max |diff| {diff:.3g} > {atol}"
    assert float(np.max(np.abs(ref))) > 1e-3, "reference audio is silent: the comparison would prove nothing"
