"""Acceptance 1 through the Qwen3 engine: greedy ``--backend vllm`` gives ``--backend torch``'s codec
frames (and audio) for each request, alone and 8 concurrent of different lengths; a consumer that goes
away aborts its request in vLLM. The engine's vLLM talker on its own gives the reference talker's
(``qwen_tts``) frames, alone and batched, and aborts a request whose consumer leaves. One vLLM engine
serves the whole module (its start is the slow part). Cloning (in-context and x-vector) on vLLM gives
torch's samples: tests/vllm/test_http.py, through the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import numpy as np
import pytest
import pytest_asyncio

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("vllm_installed"),  # skipped where vLLM is not installed (required by make test, CI)
]

TEXTS = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "She said she would be here by noon.",
    "Hi.",
    "This is a tiny test of the text to speech server, with a longer sentence than the others.",
    "Bonjour le monde.",
    "Speak in an incredulous tone.",
    "Hallo Welt. Hola mundo.",
]
SPEAKERS = ["ryan", "serena", "vivian", "aiden", "eric", "dylan", "sohee", "uncle_fu"]


@contextlib.asynccontextmanager
async def engine_on(path, backend: str):
    from flashtts.engine import EngineConfig
    from flashtts.metrics import Metrics
    from flashtts_engines.qwen3 import Qwen3Engine

    cfg = EngineConfig(model_path=str(path), backend=backend, device="cpu", dtype="float32", batch_size=8,
                       wait_timeout=0.0, extra={"threads": "1", "kv_cache_gib": "1"})
    engine = Qwen3Engine(cfg, Metrics())
    await engine.start()
    engine.record_codes = {}
    try:
        yield engine
    finally:
        await engine.stop()


def cv_request(i: int, tag: str, **options):
    from flashtts.engine import GenerationOptions, SynthesisRequest

    # different prompt lengths and different frame budgets: rows join and leave at different steps
    options = {"temperature": 0.0, **options}
    return SynthesisRequest(request_id=f"{tag}-{i}-{uuid.uuid4().hex[:6]}", text=TEXTS[i], voice=SPEAKERS[i],
                            language="english", options=GenerationOptions(max_new_tokens=6 + 3 * i, **options))


async def run_all(engine, reqs) -> list[tuple]:
    async def one(req):
        chunks = [c async for c in engine.synthesize(req)]
        return engine.record_codes[req.request_id], np.concatenate(chunks)

    return await asyncio.gather(*(one(r) for r in reqs))


async def cases(engine) -> dict[str, list[tuple]]:
    alone = [(await run_all(engine, [cv_request(i, "alone")]))[0] for i in (0, 4)]
    together = await run_all(engine, [cv_request(i, "batch") for i in range(8)])
    # sampled, but min_p=1 leaves the most likely token only: vLLM's sampler (codebook 0) and ours
    # (codebooks 1..15, in vLLM's worker) both get it through the one Sampling
    min_p = await run_all(engine, [cv_request(i, "min_p", temperature=1.3, min_p=1.0, seed=i) for i in (1, 3)])
    return {"alone": alone, "together": together, "min_p": min_p}


def assert_same(got, want, what: str) -> None:
    import torch

    (codes, wav), (want_codes, want_wav) = got, want
    assert codes.shape == want_codes.shape, (what, codes.shape, want_codes.shape)
    assert torch.equal(codes, want_codes), f"{what}: codec frames differ from --backend torch"
    assert wav.shape == want_wav.shape and float(np.max(np.abs(wav - want_wav))) < 1e-4, what
    assert float(np.max(np.abs(want_wav))) > 1e-3  # not silence: the comparison means something


@pytest.fixture(scope="module")
def reference(vllm_checkpoints):
    """The ``qwen_tts`` talker on the module engine's checkpoint."""
    from flashtts_engines.qwen3.vllm.reference import ReferenceTalker

    return ReferenceTalker(vllm_checkpoints["custom_voice"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vllm_custom_voice(vllm_checkpoints):
    """One vLLM engine on the CustomVoice checkpoint for the module (its start is the slow part)."""
    async with engine_on(vllm_checkpoints["custom_voice"], "vllm") as engine:
        yield engine


@pytest.mark.asyncio(loop_scope="module")
async def test_vllm_backend_gives_the_torch_backends_frames(vllm_checkpoints, vllm_custom_voice):
    ck = vllm_checkpoints["custom_voice"]
    async with engine_on(ck, "torch") as engine:
        want = await cases(engine)
    engine = vllm_custom_voice
    got = await cases(engine)
    stats = engine.stats()
    assert stats["backend"] == "vllm" and stats["live_requests"] == 0
    assert stats["codec_max_batch"] > 1  # codec decoding was batched across streams
    for name in ("alone", "together", "min_p"):
        for i, (g, w) in enumerate(zip(got[name], want[name], strict=False)):
            assert_same(g, w, f"{name} request {i}")
    assert len({c.shape[0] for c, _ in got["together"]}) == 8  # really 8 different lengths


@pytest.mark.asyncio(loop_scope="module")
async def test_closing_the_audio_stream_aborts_the_vllm_request(vllm_custom_voice):
    from flashtts.engine import GenerationOptions, SynthesisRequest

    engine = vllm_custom_voice
    # the module's engine: the frames test ran on it first, and it serves a new request from a clean state
    long = SynthesisRequest(request_id="long", text=TEXTS[1], voice="ryan", stream=True,
                            options=GenerationOptions(max_new_tokens=2000, temperature=0.0))
    chunks = engine.synthesize(long)
    async with contextlib.aclosing(chunks):
        first = await anext(chunks)  # the client hears the first chunk, then disconnects
    assert first.size > 0
    other = await run_all(engine, [cv_request(2, "after")])
    await asyncio.sleep(0.5)
    assert engine.generation.talker.engine.output_processor.get_num_unfinished_requests() == 0
    assert engine.stats()["live_requests"] == 0
    assert other[0][0].shape[0] > 0  # a request after the abort runs to its end


# ---- the talker alone, against the reference ---------------------------------------------------
def _case(i: int):
    # different lengths: prompts differ in text; max_new_tokens differ per request
    return TEXTS[i], SPEAKERS[i], 6 + 3 * i


@pytest.mark.asyncio(loop_scope="module")
async def test_vllm_greedy_matches_reference_alone_and_batched(vllm_custom_voice, reference):
    import torch

    from flashtts_engines.qwen3.sampling import Sampling

    talker = vllm_custom_voice.generation.talker

    inputs = [reference.talker_inputs(t, speaker=s, language="english") for t, s, _ in map(_case, range(8))]
    want = [reference.greedy_codes(t, speaker=s, language="english", max_new_tokens=n)
            for t, s, n in map(_case, range(8))]

    async def body():
        alone = []
        for i in (0, 4):
            t, _, n = _case(i)
            alone.append(await talker.generate(inputs[i]["prompt"], inputs[i]["trailing"], inputs[i]["pad"],
                                               Sampling.greedy(max_frames=n - 1)))
        batched = await asyncio.gather(*[
            talker.generate(inputs[i]["prompt"], inputs[i]["trailing"], inputs[i]["pad"],
                            Sampling.greedy(max_frames=_case(i)[2] - 1))
            for i in range(8)
        ])
        return alone, batched

    alone, batched = await body()
    for got, i in zip(alone, (0, 4), strict=False):
        assert got.shape == want[i].shape == (_case(i)[2] - 1, 16)
        assert torch.equal(got, want[i]), f"request {i} alone differs from the reference"
    lengths = {g.shape[0] for g in batched}
    assert len(lengths) == 8  # really different lengths, joining and leaving at different steps
    for i, got in enumerate(batched):
        assert torch.equal(got, want[i]), f"request {i} in a batch of 8 differs from the reference"


@pytest.mark.asyncio(loop_scope="module")
async def test_cancelled_request_is_aborted_and_others_finish(vllm_custom_voice, reference):
    import torch

    from flashtts_engines.qwen3.sampling import Sampling

    talker = vllm_custom_voice.generation.talker

    a = reference.talker_inputs(TEXTS[1], speaker="ryan", language="english")
    want = reference.greedy_codes(TEXTS[1], speaker="ryan", language="english", max_new_tokens=20)

    async def body():
        async def consume_two():
            got = []
            frames = talker.frames(a["prompt"], a["trailing"], a["pad"], Sampling.greedy(max_frames=399))
            async with contextlib.aclosing(frames):
                async for frame in frames:
                    got.append(frame)
                    if len(got) == 2:
                        break  # the consumer goes away (a client disconnect)
            return got

        first, other = await asyncio.gather(
            consume_two(), talker.generate(a["prompt"], a["trailing"], a["pad"], Sampling.greedy(max_frames=19)))
        await asyncio.sleep(0.5)
        return first, other, talker.engine.output_processor.get_num_unfinished_requests(), talker.stats()

    first, other, still_live, stats = await body()
    assert len(first) == 2
    assert torch.equal(first[0], want[0]) and torch.equal(first[1], want[1])
    assert torch.equal(other, want)
    assert still_live == 0, "the abandoned request is still running in vLLM"
    assert stats["live_requests"] == 0
