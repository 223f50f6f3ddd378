"""The Qwen3 engine's one ``Sampling`` type and its sampler (no model needed): options from a request,
the wire encoding for vLLM, greedy limits, the distribution, each row's own random numbers."""

from __future__ import annotations

import torch

from flashtts.engine import GenerationOptions
from flashtts_engines.qwen3.sampling import Sampling, Uniforms, sample
from flashtts_engines.qwen3.vllm.wire import decode_request, encode_request


def rows(n: int, **kw) -> list[Sampling]:
    return [Sampling(**kw)] * n


def randoms(n: int, base: int = 0) -> list[Uniforms]:
    return [Uniforms(base + i) for i in range(n)]


def test_request_options_over_checkpoint_defaults_over_ours():
    checkpoint = {"temperature": 0.7, "top_k": 30, "subtalker_top_k": 20, "subtalker_temperature": 0.6,
                  "max_new_tokens": 100, "do_sample": True}
    s = Sampling.from_options(GenerationOptions(), checkpoint)
    assert (s.temperature, s.top_k, s.sub_top_k, s.sub_temperature, s.max_frames) == (0.7, 30, 20, 0.6, 99)
    assert s.repetition_penalty == Sampling.repetition_penalty  # not in the checkpoint: ours
    s = Sampling.from_options(GenerationOptions(temperature=1.1, top_k=5, max_new_tokens=11, seed=7), checkpoint)
    assert (s.temperature, s.sub_temperature, s.top_k, s.sub_top_k, s.max_frames, s.seed) == (1.1, 1.1, 5, 5, 10, 7)
    greedy = Sampling.from_options(GenerationOptions(temperature=0.0), checkpoint)
    assert not greedy.do_sample and not greedy.sub_do_sample and not greedy.samples
    fixed = Sampling.from_options(GenerationOptions(max_new_tokens=5), checkpoint, fixed_frames=40)
    assert fixed.max_frames == 40 and fixed.ignore_eos


def test_the_wire_encoding_carries_the_whole_sampling():
    s = Sampling(temperature=0.5, top_k=7, top_p=0.8, repetition_penalty=1.2, sub_do_sample=False, max_frames=33,
                 ignore_eos=True, seed=99)
    trailing, pad = torch.randn(4, 8), torch.randn(8)
    wire = decode_request(encode_request("req-1", trailing, pad, s))
    assert wire is not None and wire.sampling == s and wire.key == "req-1"
    assert torch.equal(wire.trailing, trailing) and torch.equal(wire.pad, pad)
    assert decode_request({"other": 1}) is None


def test_limits_of_top_k_and_top_p_are_greedy():
    logits = torch.randn(6, 300, generator=torch.Generator().manual_seed(0))
    greedy = logits.argmax(-1)
    n = logits.shape[0]
    assert torch.equal(sample(logits, rows(n, temperature=1.0, top_k=1), randoms(n)), greedy)
    assert torch.equal(sample(logits, rows(n, temperature=0.7, top_k=0, top_p=1e-6), randoms(n)), greedy)
    assert torch.equal(sample(logits, rows(n, do_sample=False, temperature=5.0, top_k=0), [None] * n), greedy)


FOUR = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))


def frequencies(row: Sampling, draws: int, seed: int) -> torch.Tensor:
    """How often each of the four tokens of ``FOUR`` is drawn with ``row``'s options."""
    u = [Uniforms(seed)]
    got = torch.stack([sample(FOUR, [row], u) for _ in range(draws)])[:, 0]
    return torch.bincount(got, minlength=4).float() / draws


def test_draws_follow_the_distribution_and_the_row_options():
    freq = frequencies(Sampling(temperature=1.0, top_k=0, top_p=1.0), 4000, seed=1)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03), freq
    # top_k=2: only the two most likely; top_p=0.6: the head reaching 60% (tokens 0 and 1)
    for k, p in ((2, 1.0), (0, 0.6)):
        freq = frequencies(Sampling(temperature=1.0, top_k=k, top_p=p), 2000, seed=1)
        assert freq[2:].sum() == 0
        assert abs(freq[0] - 0.625) < 0.04, freq


def test_a_row_depends_only_on_its_own_logits_and_random_numbers():
    logits = torch.randn(5, 100, generator=torch.Generator().manual_seed(2))
    opts = [Sampling(temperature=t, top_k=k, top_p=p, do_sample=d) for t, k, p, d in
            zip([0.9, 1.2, 0.5, 1.0, 0.8], [50, 0, 10, 3, 100], [1.0, 0.9, 0.8, 1.0, 0.95],
                [True, True, False, True, True], strict=True)]

    def run(idx):
        return sample(logits[idx], [opts[i] for i in idx], [Uniforms(10 + i) for i in idx])

    together = run([0, 1, 2, 3, 4])
    for i in range(5):
        assert run([i])[0] == together[i]
    assert torch.equal(run([4, 2, 0]), together[[4, 2, 0]])


def test_min_p_drops_the_unlikely_tail():
    # min_p=0.5: only tokens at least half as likely as the best (0.5 and 0.3) remain
    freq = frequencies(Sampling(temperature=1.0, top_k=0, min_p=0.5), 2000, seed=3)
    assert freq[2:].sum() == 0 and abs(freq[0] - 0.625) < 0.04, freq
    # min_p close to 1: the most likely token only, i.e. greedy, whatever the temperature
    many = torch.randn(8, 300, generator=torch.Generator().manual_seed(4))
    assert torch.equal(sample(many, rows(8, temperature=1.5, top_k=0, min_p=0.999), randoms(8)), many.argmax(-1))
    assert not torch.equal(sample(many, rows(8, temperature=1.5, top_k=0), randoms(8)), many.argmax(-1))
    # from the request, for the talker and the code predictor alike
    s = Sampling.from_options(GenerationOptions(min_p=0.2))
    assert s.min_p == s.predictor.min_p == 0.2
