"""Greedy decoding through vLLM gives the reference talker's codec frames, alone and batched."""

from __future__ import annotations

import asyncio
import contextlib

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


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def talker(talker_checkpoint):
    """One vLLM talker for the module (its start is the slow part)."""
    from flashtts_engines.qwen3.vllm.talker import VLLMTalker

    talker = VLLMTalker(talker_checkpoint, max_num_seqs=8, kv_cache_gib=1)
    await talker.start()
    try:
        yield talker
    finally:
        await talker.close()


def _case(i: int):
    # different lengths: prompts differ in text; max_new_tokens differ per request
    return TEXTS[i], SPEAKERS[i], 6 + 3 * i


@pytest.mark.asyncio(loop_scope="module")
async def test_vllm_greedy_matches_reference_alone_and_batched(talker, reference):
    import torch

    from flashtts_engines.qwen3.sampling import Sampling

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
async def test_cancelled_request_is_aborted_and_others_finish(talker, reference):
    import torch

    from flashtts_engines.qwen3.sampling import Sampling

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
