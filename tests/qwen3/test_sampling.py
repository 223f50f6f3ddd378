"""Per-row sampling of the Qwen3 engine (no model needed): greedy limits, distribution, own generators."""

from __future__ import annotations

import torch

from flashtts_engines.qwen3.model import Qwen3Runner

sample = Qwen3Runner._sample  # uses nothing of the instance


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_limits_of_top_k_and_top_p_are_greedy():
    logits = torch.randn(6, 300, generator=gen(0))
    greedy = logits.argmax(-1)
    n = logits.shape[0]
    out = sample(None, logits, [False] * n, [1.0] * n, [1] * n, [1.0] * n, [gen(i) for i in range(n)])
    assert torch.equal(out, greedy)
    out = sample(None, logits, [False] * n, [0.7] * n, [0] * n, [1e-6] * n, [gen(i) for i in range(n)])
    assert torch.equal(out, greedy)
    out = sample(None, logits, [True] * n, [5.0] * n, [0] * n, [1.0] * n, [None] * n)
    assert torch.equal(out, greedy)


def test_draws_follow_the_distribution_and_the_row_options():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = gen(1)
    draws = torch.stack([sample(None, logits, [False], [1.0], [0], [1.0], [g]) for _ in range(4000)])[:, 0]
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03), freq
    # top_k=2: only the two most likely; top_p=0.6: the head reaching 60% (tokens 0 and 1)
    for k, p in ((2, 1.0), (0, 0.6)):
        draws = torch.stack([sample(None, logits, [False], [1.0], [k], [p], [g]) for _ in range(2000)])[:, 0]
        freq = torch.bincount(draws, minlength=4).float() / len(draws)
        assert freq[2:].sum() == 0
        assert abs(freq[0] - 0.625) < 0.04, freq


def test_a_row_depends_only_on_its_own_logits_and_generator():
    logits = torch.randn(5, 100, generator=gen(2))
    opts = dict(temps=[0.9, 1.2, 0.5, 1.0, 0.8], ks=[50, 0, 10, 3, 100], ps=[1.0, 0.9, 0.8, 1.0, 0.95])
    greedy = [False, False, True, False, False]

    def run(rows):
        return sample(None, logits[rows], [greedy[i] for i in rows], [opts["temps"][i] for i in rows],
                      [opts["ks"][i] for i in rows], [opts["ps"][i] for i in rows], [gen(10 + i) for i in rows])

    together = run([0, 1, 2, 3, 4])
    for i in range(5):
        assert run([i])[0] == together[i]
    assert torch.equal(run([4, 2, 0]), together[[4, 2, 0]])
