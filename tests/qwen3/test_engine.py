"""Engine behaviour on tiny checkpoints: streaming (acceptance 3), shared decode steps and
cancellation (4), a free event loop (5), clone-prompt caching, capabilities per kind."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import torch

from flashtts.engine import CapabilityError
from flashtts.metrics import Metrics

from .qwen3_helpers import (
    SPF,
    TEXTS,
    assert_audio_equal,
    collect,
    reference_audio,
    reference_generate,
    request,
    running_engine,
)

pytestmark = pytest.mark.slow


async def test_streaming_chunks_arrive_early_and_concatenate_to_the_full_output(checkpoints, reference_models):
    ref_codes, ref_wav = reference_generate(reference_models["custom_voice"], "custom_voice", TEXTS[2],
                                            max_new_tokens=41, speaker="ryan")
    extra = {"first_chunk_frames": "3", "chunk_frames": "8"}
    async with running_engine(checkpoints["custom_voice"], extra=extra) as engine:
        full = await collect(engine, request(TEXTS[2], voice="ryan", temperature=0.0, max_new_tokens=41))
        times: list[float] = []
        req = request(TEXTS[2], voice="ryan", temperature=0.0, max_new_tokens=41, stream=True)
        t0 = asyncio.get_running_loop().time()
        chunks = await collect(engine, req, times=times)
    # a small first chunk, then larger ones (the same windows for a complete-file request)
    assert [len(c) // SPF for c in chunks] == [3, 8, 8, 8, 8, 5]
    assert [len(c) // SPF for c in full] == [3, 8, 8, 8, 8, 5]
    # chunks arrive while decoding continues, not all at the end
    assert times[0] - t0 < 0.5 * (times[-1] - t0)
    streamed = np.concatenate(chunks)
    assert_audio_equal(streamed, np.concatenate(full), atol=1e-6)  # the same samples
    # and both equal the reference's one-pass decode (chunks decoded with enough left context)
    assert_audio_equal(streamed, ref_wav, atol=2e-6)


async def test_eight_concurrent_requests_share_decode_steps(checkpoints):
    metrics = Metrics()
    async with running_engine(checkpoints["custom_voice"], metrics=metrics, wait_timeout=0.05) as engine:
        reqs = [request(TEXTS[i % 3], voice="ryan", seed=i, max_new_tokens=21) for i in range(8)]
        results = await asyncio.gather(*(collect(engine, r) for r in reqs))
        stats = engine.stats()
    for chunks in results:
        assert sum(len(c) for c in chunks) == 20 * SPF
    snap = metrics.snapshot()
    assert snap["max_batch_size"] == 8
    assert snap["mean_batch_size"] > 6
    assert stats["steps"] <= 24  # 8 x 20 frames in ~20 shared steps, not 160


async def test_min_p_near_one_samples_the_greedy_frames(checkpoints):
    """A request's min_p reaches both samplers: with min_p=1 a sampled request is the greedy one."""
    async with running_engine(checkpoints["custom_voice"]) as engine:
        greedy, near_one, plain = (request(TEXTS[1], voice="ryan", max_new_tokens=16, **opts) for opts in (
            dict(temperature=0.0), dict(temperature=1.2, min_p=1.0, seed=5), dict(temperature=1.2, seed=5)))
        for r in (greedy, near_one, plain):
            await collect(engine, r)
    codes = {r.request_id: engine.record_codes[r.request_id] for r in (greedy, near_one, plain)}
    assert torch.equal(codes[near_one.request_id], codes[greedy.request_id])
    assert not torch.equal(codes[plain.request_id], codes[greedy.request_id])  # sampling does differ


async def test_batch_size_caps_active_streams(checkpoints):
    metrics = Metrics()
    async with running_engine(checkpoints["voice_design"], metrics=metrics, batch_size=3) as engine:
        reqs = [request(TEXTS[0], instructions="calm", seed=i, max_new_tokens=6) for i in range(7)]
        await asyncio.gather(*(collect(engine, r) for r in reqs))
    assert metrics.snapshot()["max_batch_size"] == 3


async def test_cancelled_request_leaves_the_batch_and_others_finish_unchanged(checkpoints, reference_models):
    ref = [reference_generate(reference_models["custom_voice"], "custom_voice", t, max_new_tokens=31,
                              speaker="serena") for t in TEXTS[:2]]
    async with running_engine(checkpoints["custom_voice"], extra={"first_chunk_frames": "2"}) as engine:
        keep = [request(t, voice="serena", temperature=0.0, max_new_tokens=31) for t in TEXTS[:2]]
        victim = request(TEXTS[2], voice="ryan", max_new_tokens=2000, stream=True)
        victim_chunks = []

        async def run_victim():
            agen = engine.synthesize(victim)
            async for chunk in agen:
                victim_chunks.append(chunk)
                if len(victim_chunks) == 2:
                    break
            await agen.aclose()  # client gone

        results = await asyncio.gather(run_victim(), *(collect(engine, r) for r in keep))
        for _ in range(100):  # the abort lands before the next step
            if engine.stats()["active"] == 0:
                break
            await asyncio.sleep(0.01)
        stats = engine.stats()
    assert stats["active"] == 0 and stats["rows"] == 0
    assert victim.request_id not in engine.record_codes  # it never finished
    for r, chunks, (codes, wav) in zip(keep, results[1:], ref, strict=False):
        assert torch.equal(engine.record_codes[r.request_id], codes)
        assert_audio_equal(np.concatenate(chunks), wav)


async def test_abort_by_request_id(checkpoints):
    async with running_engine(checkpoints["custom_voice"]) as engine:
        req = request(TEXTS[0], voice="ryan", max_new_tokens=5000, stream=True)
        got = []
        with pytest.raises(RuntimeError, match="aborted"):
            async for chunk in engine.synthesize(req):
                got.append(chunk)
                await engine.abort(req.request_id)
        assert len(got) == 1
        await engine.abort("no-such-request")  # unknown ids are ignored
        assert engine.stats()["active"] == 0


async def test_event_loop_stays_responsive_during_a_long_generation(checkpoints):
    async with running_engine(checkpoints["custom_voice"], extra={"fixed_frames": "80"}) as engine:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker():
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        async def generate():
            try:
                return await collect(engine, request(TEXTS[2], voice="ryan", max_new_tokens=10))
            finally:
                done.set()

        t = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        chunks = await generate()
        elapsed = time.perf_counter() - t0
        await t
    assert sum(len(c) for c in chunks) == 80 * SPF  # fixed_frames ignores max_new_tokens / end-of-speech
    assert elapsed > 0.5 and len(gaps) > 20
    assert max(gaps) < 0.25, f"event loop blocked for {max(gaps):.3f}s"


async def test_clone_prompt_is_computed_once_per_role_and_cached_on_disk(checkpoints, tmp_path):
    role = tmp_path / "roles" / "alice"
    ref = reference_audio(text="Hello world.", key="alice:abc123", cache_dir=role)
    async with running_engine(checkpoints["base"]) as engine:
        a = np.concatenate(await collect(engine, request(TEXTS[0], reference=ref, temperature=0.0,
                                                         max_new_tokens=8)))
        b = np.concatenate(await collect(engine, request(TEXTS[0], reference=ref, temperature=0.0,
                                                         max_new_tokens=8)))
        # concurrent first requests of another role encode once too
        ref2 = reference_audio(seed=9, text=None, key="bob:1", cache_dir=tmp_path / "roles" / "bob")
        await asyncio.gather(*(collect(engine, request(TEXTS[1], reference=ref2, max_new_tokens=4))
                               for _ in range(3)))
        assert engine.clone_encodes == 2
    files = list(role.glob("qwen3-clone-*.pt"))
    assert len(files) == 1
    np.testing.assert_array_equal(a, b)
    # a new server process (fresh engine) reads the prompt from the role's folder, no re-encoding
    async with running_engine(checkpoints["base"]) as engine:
        c = np.concatenate(await collect(engine, request(TEXTS[0], reference=ref, temperature=0.0,
                                                         max_new_tokens=8)))
        assert engine.clone_encodes == 0
    np.testing.assert_array_equal(a, c)
    # a damaged cache file is ignored and rewritten
    files[0].write_bytes(b"not a tensor file")
    async with running_engine(checkpoints["base"]) as engine:
        d = np.concatenate(await collect(engine, request(TEXTS[0], reference=ref, temperature=0.0,
                                                         max_new_tokens=8)))
        assert engine.clone_encodes == 1
    np.testing.assert_array_equal(a, d)
    assert files[0].stat().st_size > 100


async def test_capabilities_follow_the_checkpoint_kind(checkpoints):
    async with running_engine(checkpoints["custom_voice"]) as engine:
        info = engine.info
        assert info.capabilities.instruct and not info.capabilities.clone and not info.capabilities.voice_design
        assert {"ryan", "vivian", "serena", "eric", "dylan"} <= info.voice_ids()
        assert {"auto", "english", "chinese", "en", "zh"} <= set(info.languages)
        with pytest.raises(CapabilityError, match="cannot clone.*preset speakers"):
            engine.validate(request("hi", reference=reference_audio()))
        with pytest.raises(CapabilityError, match="unknown voice 'nobody'.*ryan"):
            engine.validate(request("hi", voice="nobody"))
        with pytest.raises(CapabilityError, match="language 'klingon'"):
            engine.validate(request("hi", language="klingon"))
        engine.validate(request("hi", voice="ryan", instructions="whisper", language="en"))
    async with running_engine(checkpoints["voice_design"]) as engine:
        assert engine.info.capabilities.voice_design and engine.info.voices == ()
        with pytest.raises(CapabilityError, match="cannot clone.*description in 'instructions'"):
            engine.validate(request("hi", reference=reference_audio()))
        with pytest.raises(CapabilityError, match="voice 'ryan' cannot be used"):
            engine.validate(request("hi", voice="ryan"))
    async with running_engine(checkpoints["base"]) as engine:
        assert engine.info.capabilities.clone and not engine.info.capabilities.instruct
        with pytest.raises(CapabilityError, match="reference voice .* is required.*cloning"):
            engine.validate(request("hi"))
        with pytest.raises(CapabilityError, match="instructions are not supported.*cloning"):
            engine.validate(request("hi", reference=reference_audio(), instructions="happy"))
        with pytest.raises(CapabilityError):
            async for _ in engine.synthesize(request("hi", voice="ryan")):
                pass


async def test_a_failed_step_fails_its_batch_and_the_engine_goes_on(checkpoints):
    async with running_engine(checkpoints["custom_voice"]) as engine:
        real_step = engine.generation.decode.step
        calls = {"n": 0}

        def flaky(streams):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("injected fault")
            return real_step(streams)

        engine.generation.decode.step = flaky
        reqs = [request(TEXTS[i], voice="ryan", max_new_tokens=12, temperature=0.0) for i in range(2)]
        results = await asyncio.gather(*(collect(engine, r) for r in reqs), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) and "injected" in str(r) for r in results), results
        assert engine.stats()["rows"] == 0  # their KV rows were freed
        engine.generation.decode.step = real_step
        chunks = await collect(engine, request(TEXTS[0], voice="ryan", max_new_tokens=12, temperature=0.0))
        assert sum(len(c) for c in chunks) == 11 * SPF
        assert engine.ready()


async def test_many_requests_with_aborts_keep_rows_consistent(checkpoints):
    """30 requests of random lengths through 6 rows, a third of them abandoned mid-stream: rows are
    swapped around as requests leave, yet every finished request equals its solo greedy output."""
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(3, 14, size=30)]
    solo: dict[int, np.ndarray] = {}
    async with running_engine(checkpoints["custom_voice"], batch_size=6, extra={"first_chunk_frames": "2",
                                                                             "chunk_frames": "3"}) as engine:
        for n in sorted(set(lengths)):  # solo references (the same text, greedy)
            solo[n] = np.concatenate(await collect(engine, request(TEXTS[1], voice="ryan", temperature=0.0,
                                                                   max_new_tokens=n)))

        async def one(i, n):
            await asyncio.sleep(0.01 * int(rng.integers(0, 20)))
            req = request(TEXTS[1], voice="ryan", temperature=0.0, max_new_tokens=n, stream=True)
            if i % 3 == 0:
                agen = engine.synthesize(req)
                async for _ in agen:
                    break
                await agen.aclose()
                return None
            return np.concatenate(await collect(engine, req))

        results = await asyncio.gather(*(one(i, n) for i, n in enumerate(lengths)))
        for _ in range(100):
            if engine.stats()["rows"] == 0:
                break
            await asyncio.sleep(0.01)
        stats = engine.stats()
    assert stats["rows"] == 0 and stats["active"] == 0 and stats["max_active"] == 6
    for n, wav in zip(lengths, results, strict=False):
        if wav is not None:
            assert_audio_equal(wav, solo[n], atol=1e-6)


async def test_attn_option_chooses_the_talkers_attention_kernel(checkpoints):
    """``--engine_opt attn=...`` (and FlashTTS's ``--llm_attn_implementation``) reaches transformers."""
    async with running_engine(checkpoints["custom_voice"], extra={"attn": "eager"}) as engine:
        assert engine.runner.talker.config._attn_implementation == "eager"
    async with running_engine(checkpoints["custom_voice"]) as engine:
        assert engine.runner.talker.config._attn_implementation != "eager"
