"""The streamed codec decoder (each chunk decoded once after its stream's state) against the reference's
one-pass decode, and the growing chunk schedule (1, 2, 4, 8, 8, ... frames) as the engine streams it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .qwen3_helpers import SPF, collect, request, running_engine

pytestmark = pytest.mark.slow


def test_streamed_chunks_of_any_size_across_rows_equal_the_one_pass_decode(checkpoints, reference_models):
    """Three streams decoded together, each with its own chunk sizes (rows of one pass differ in length),
    past the decoder transformer's 72-frame window: every sample as the reference's own decode."""
    from flashtts_engines.qwen3.model import Qwen3Runner
    from flashtts_engines.qwen3.sampling import Sampling

    runner = Qwen3Runner(str(checkpoints["custom_voice"]), threads=1)
    frames = 90
    codes = torch.randint(0, 2048, (3, frames, 16), generator=torch.Generator().manual_seed(0))
    tok = reference_models["custom_voice"].model.speech_tokenizer
    want = tok.decode([{"audio_codes": c} for c in codes])[0]
    prompt = runner.build_prompt("Hello world.", speaker="ryan")
    streams = [runner.new_stream(f"s{i}", prompt, Sampling.greedy(frames), 1, 8) for i in range(3)]
    sizes = [[1, 2, 4, 8], [3], [5, 13]]  # chunk sizes per row (the last repeats)
    got: list[list[np.ndarray]] = [[], [], []]
    for f in range(frames):
        for i, s in enumerate(streams):
            s.frames.append(codes[i, f])
        due = [s for i, s in enumerate(streams)
               if s.n_frames - s.emitted >= sizes[i][min(len(got[i]), len(sizes[i]) - 1)] or f == frames - 1]
        for s, wav in zip(due, runner.decode_audio(due), strict=True):
            got[streams.index(s)].append(wav)
    assert [len(g) for g in got] == [14, 30, 8]
    for i in range(3):
        wav = np.concatenate(got[i])
        assert wav.shape == want[i].shape == (frames * SPF,)
        assert float(np.abs(wav - want[i]).max()) <= 2e-6
        assert float(np.abs(want[i]).max()) > 1e-3


async def test_chunks_grow_from_one_frame(checkpoints):
    opts = {"first_chunk_frames": "1", "chunk_frames": "8", "chunk_growth": "1"}
    async with running_engine(checkpoints["custom_voice"], extra=opts) as engine:
        chunks = await collect(engine, request("Hello there.", voice="ryan", max_new_tokens=31, temperature=0.0,
                                               stream=True))
    assert [len(c) // SPF for c in chunks] == [1, 2, 4, 8, 8, 7]
