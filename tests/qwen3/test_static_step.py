"""The graph-ready static step (``--backend static``): greedy parity with the reference and the eager
torch generation, alone and batched; seeded sampling independent of the batch; the runaway guard."""

from __future__ import annotations

import asyncio

import pytest
import torch

from flashtts.metrics import Metrics

from .qwen3_helpers import TEXTS, collect, request, running_engine
from .test_parity import CASES, _check, _engine_request, _reference

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["custom_voice", "base"])
async def test_greedy_frames_equal_reference_and_eager_alone_and_batched(kind, checkpoints, reference_models):
    cases = CASES[kind]
    refs = [_reference(reference_models, kind, t, n, kw, seed_ref=3 + i) for i, (t, n, kw) in enumerate(cases)]
    codes: dict[str, list[torch.Tensor]] = {}
    for backend in ("torch", "static"):
        async with running_engine(checkpoints[kind], backend=backend) as engine:
            for i, ((t, n, kw), (ref_codes, wav)) in enumerate(zip(cases, refs, strict=True)):  # alone
                req = _engine_request(kind, t, n, kw, seed_ref=3 + i)
                _check(engine, req, await collect(engine, req), ref_codes, wav)
            reqs = [_engine_request(kind, t, n, kw, seed_ref=3 + i, stream=True) for i, (t, n, kw) in enumerate(cases)]
            results = await asyncio.gather(*(collect(engine, r) for r in reqs))  # together, finishing apart
            for req, chunks, (ref_codes, wav) in zip(reqs, results, refs, strict=True):
                _check(engine, req, chunks, ref_codes, wav)
            assert engine.stats()["max_active"] >= 2
            codes[backend] = [engine.record_codes[r.request_id] for r in reqs]
    for eager, static in zip(codes["torch"], codes["static"], strict=True):
        assert torch.equal(eager, static)


async def test_seeded_sampling_alone_equals_batch_of_8_with_joins_and_leaves(checkpoints):
    text = TEXTS[1]
    async with running_engine(checkpoints["custom_voice"], backend="static", batch_size=8) as engine:
        await collect(engine, request(text, voice="ryan", seed=7, max_new_tokens=20))
        alone = next(iter(engine.record_codes.values()))
        target = request(text, voice="ryan", seed=7, max_new_tokens=20, stream=True)
        started = asyncio.Event()
        others = [request(TEXTS[i % 3], voice=v, seed=10 + i, max_new_tokens=n, **opts)
                  for i, (v, n, opts) in enumerate([
                      ("serena", 6, dict(temperature=1.3, top_k=10)), ("aiden", 30, dict(top_p=0.8)),
                      ("vivian", 4, dict(temperature=0.0)), ("eric", 9, dict(repetition_penalty=1.5)),
                      ("ryan", 14, {}), ("dylan", 3, dict(top_k=2)), ("serena", 25, dict(temperature=0.5)),
                      ("aiden", 8, dict(top_p=0.3)), ("vivian", 5, {})])]

        async def late(r):  # joins once the target is running; short ones leave while it runs
            await started.wait()
            return await collect(engine, r)

        await asyncio.gather(collect(engine, target, started), *(collect(engine, r) for r in others[:3]),
                             *(late(r) for r in others[3:]))
        assert engine.stats()["max_active"] == 8
        assert torch.equal(engine.record_codes[target.request_id], alone)
        other = request(text, voice="ryan", seed=8, max_new_tokens=20)
        await collect(engine, other)
        assert not torch.equal(engine.record_codes[other.request_id], alone), "the seed does not matter"


@pytest.fixture(scope="module")
def no_eos_checkpoint(qwen3_no_eos_checkpoint):
    return qwen3_no_eos_checkpoint


async def test_runaway_guard_stops_at_the_text_cap_and_counts(no_eos_checkpoint):
    metrics = Metrics()
    text = "Hello there, world."
    opts = {"runaway_frames_per_char": "0.5", "runaway_margin_frames": "3", "first_chunk_frames": "1"}
    cap = 3 + 9  # 17 non-space characters x 0.5 -> 9, + 3
    async with running_engine(no_eos_checkpoint, backend="static", extra=opts, metrics=metrics) as engine:
        runaway = request(text, voice="ryan", seed=1, max_new_tokens=400)
        short = request(text, voice="ryan", seed=1, max_new_tokens=6)
        await asyncio.gather(collect(engine, runaway), collect(engine, short))
        assert engine.record_codes[runaway.request_id].shape[0] == cap
        assert engine.record_codes[short.request_id].shape[0] == 5  # its own limit: not a runaway
        assert metrics.counters["runaway_segments_total"] == 1
        assert "flashtts_runaway_segments_total 1" in metrics.prometheus()


def _frames(decode, runner, samplings, trailing: int = 0) -> list[torch.Tensor]:
    """Run streams of ``samplings`` through ``decode`` (rows leave as they finish) -> frames per stream;
    ``trailing``: give every prompt that many (seeded random) trailing text embeddings."""
    prompts = [runner.build_prompt(t, speaker="ryan") for t in TEXTS]
    if trailing:
        gen = torch.Generator().manual_seed(0)
        for p in prompts:
            p.trailing = torch.randn(trailing, p.trailing.shape[-1], generator=gen).to(p.trailing.dtype)
    streams = [runner.new_stream(f"s{i}", prompts[i % 3], s, 4, 12) for i, s in enumerate(samplings)]
    decode.prefill(streams)
    active = list(streams)
    while active:
        decode.step(active)
        for s in [s for s in active if s.done]:
            i = active.index(s)
            moved = decode.remove(i)
            if moved is not None:
                active[i] = active[moved]
                active.pop(moved)
            else:
                active.pop(i)
    return [torch.stack(s.frames) for s in streams]


@pytest.fixture(scope="module")
def runner(checkpoints):
    from flashtts_engines.qwen3.model import Qwen3Runner

    return Qwen3Runner(str(checkpoints["custom_voice"]), threads=1)


def test_step_compiles_with_fullgraph_for_every_bucket_up_to_16(runner):
    """Dynamo captures the whole step as one graph (any host read or data-dependent branch would be a
    graph break, an error under ``fullgraph=True``) for every row bucket; Inductor's code generation
    takes minutes per bucket on 2 cores, so CI traces with the ``eager`` backend (the benchmark compiles)."""
    from flashtts_engines.qwen3.static_step import StaticDecode, buckets

    decode = StaticDecode(runner, 16, {"compile": "1", "compile_backend": "eager"})
    torch._dynamo.reset()
    decode.warmup(widths=[64])
    assert buckets(16) == [1, 2, 4, 8, 16]
    assert decode.warmup_seconds > 0


def test_compiled_step_equals_eager_greedy_and_sampled(runner):
    """The step compiled through AOT autograd (functionalised mutations of the slot buffers) gives the
    eager step's frames, sampled (talker and code predictor) and greedy (the second row's code
    predictor), the shorter row leaving first."""
    from flashtts_engines.qwen3.sampling import Sampling
    from flashtts_engines.qwen3.static_step import StaticDecode

    samplings = [Sampling(seed=3, max_frames=7, ignore_eos=True, repetition_penalty=1.3),
                 Sampling(seed=4, max_frames=4, top_k=5, top_p=0.7, temperature=1.2, ignore_eos=True,
                          sub_do_sample=False)]
    with torch.no_grad():
        eager = _frames(StaticDecode(runner, 2), runner, samplings)
        torch._dynamo.reset()
        compiled = _frames(StaticDecode(runner, 2, {"compile": "1", "compile_backend": "aot_eager"}), runner,
                           samplings)
    assert [f.shape[0] for f in eager] == [7, 4]
    for a, b in zip(eager, compiled, strict=True):
        assert torch.equal(a, b)


def test_text_longer_than_the_slot_buffer_grows_it_and_keeps_greedy_parity(runner):
    from flashtts_engines.qwen3.sampling import Sampling
    from flashtts_engines.qwen3.static_step import StaticDecode
    from flashtts_engines.qwen3.torch_decode import TorchDecode

    samplings = [Sampling.greedy(12), Sampling.greedy(5)]
    static = StaticDecode(runner, 2, {"max_text_tokens": "2"})
    with torch.no_grad():
        got = _frames(static, runner, samplings, trailing=7)
        want = _frames(TorchDecode(runner, 2), runner, samplings, trailing=7)
    assert static.trailing.shape[1] > 2
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)


def test_language_codes_and_names_build_the_same_prompt(runner):
    """The engine reads a language through flashtts's one alias table: 'en', 'English' and 'english' are one."""
    prompts = [runner.build_prompt(TEXTS[0], language=lang, speaker="ryan") for lang in ("en", "English", "english")]
    assert all(torch.equal(p.embeds, prompts[0].embeds) for p in prompts)
    other = runner.build_prompt(TEXTS[0], language="zh", speaker="ryan")
    assert not torch.equal(other.embeds, prompts[0].embeds)  # the language is in the prompt
