"""Sampling on the device with row tensors and counter-based random numbers (no host reads).

The static decode step (:mod:`.static_step`) samples every row of a bucket at once: each row's
:class:`~.sampling.Sampling` becomes entries of :class:`RowParams` tensors, and its random numbers
come from :func:`counter_uniform`, an integer hash of (request seed, frame index, codebook). A
request's draws therefore depend on nothing but its own seed and position: alone or in any batch,
eager or compiled, it samples the same tokens. Every operation has a static shape, so the step
compiles with ``fullgraph=True`` and captures as a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # sampling.py imports this module (its sample() wraps sample_rows())
    from .sampling import Sampling

MASK32 = 0xFFFFFFFF
# multipliers below 2**31: a 32-bit value times one stays below 2**63, so int64 never overflows
_M1, _M2 = 0x7FEB352D, 0x2C1B3C6D


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply rounds) of int64 values in ``[0, 2**32)``."""
    x = x ^ (x >> 16)
    x = (x * _M1) & MASK32
    x = x ^ (x >> 15)
    x = (x * _M2) & MASK32
    return x ^ (x >> 16)


def counter_uniform(seed: torch.Tensor, frame: torch.Tensor, codebook: int | torch.Tensor) -> torch.Tensor:
    """Uniforms in ``[0, 1)`` (float64, 53 bits) from int64 ``seed`` (32-bit), ``frame`` and ``codebook``
    (broadcast together: e.g. ``(B, 1)`` seeds and frames with ``(1, G)`` codebooks give ``(B, G)``)."""
    h = _mix32(seed ^ 0x5BD1E995)
    h = _mix32(h ^ (frame & MASK32))
    h = _mix32(h ^ codebook)
    lo = _mix32(h ^ 0x68E31DA4)
    return (h.double() * 2.0**21 + (lo >> 11).double()) * 2.0**-53


def seed32(seed: int) -> int:
    """A request seed of any size folded to the 32 bits the hash takes."""
    s = int(seed) & ((1 << 64) - 1)
    return (s ^ (s >> 32)) & MASK32


@dataclass
class RowParams:
    """One sampler's options as row tensors ``(R,)`` (preallocated; rows written with :meth:`set_row`)."""

    greedy: torch.Tensor
    temperature: torch.Tensor
    top_k: torch.Tensor
    """Clamped to ``[1, vocab]``: ``vocab`` when off."""
    top_p: torch.Tensor
    min_p: torch.Tensor

    @classmethod
    def empty(cls, rows: int, device: torch.device) -> RowParams:
        f32 = torch.float32
        return cls(greedy=torch.ones(rows, dtype=torch.bool, device=device),
                   temperature=torch.ones(rows, dtype=f32, device=device),
                   top_k=torch.ones(rows, dtype=torch.long, device=device),
                   top_p=torch.ones(rows, dtype=f32, device=device), min_p=torch.zeros(rows, dtype=f32, device=device))

    def tensors(self) -> list[torch.Tensor]:
        return [getattr(self, f.name) for f in fields(self)]

    @classmethod
    def of(cls, rows: Sequence[Sampling], vocab: int, device: torch.device) -> RowParams:
        """The options of ``rows`` (one :class:`~.sampling.Sampling` per row) as row tensors."""
        cols = list(zip(*(_values(s, vocab) for s in rows), strict=True))
        return cls(*(torch.tensor(c, dtype=t.dtype, device=device) for c, t in zip(cols, _EMPTY.tensors(),
                                                                                   strict=True)))

    def set_row(self, row: int, s: Sampling, vocab: int) -> None:
        """Row ``row`` samples as ``s`` (its talker options; pass ``s.predictor`` for the code predictor)."""
        for t, v in zip(self.tensors(), _values(s, vocab), strict=True):
            t[row] = v

    def rows(self, n: int) -> RowParams:
        """The first ``n`` rows (views)."""
        return RowParams(*(t[:n] for t in self.tensors()))


def _values(s: Sampling, vocab: int) -> tuple[bool, float, int, float, float]:
    """One row's entries of the :class:`RowParams` tensors, in field order."""
    return (not s.do_sample, max(float(s.temperature), 1e-5), s.top_k if 0 < s.top_k < vocab else vocab,
            float(s.top_p), float(s.min_p))


_EMPTY = RowParams.empty(0, torch.device("cpu"))  # the dtypes of the row tensors


def sample_rows(logits: torch.Tensor, p: RowParams, u: torch.Tensor, candidates: int = 0) -> torch.Tensor:
    """One token per row of ``logits (B, V)``: argmax for greedy rows, else temperature -> top-k ->
    top-p -> min-p -> inverse-CDF draw with ``u (B,)`` (the semantics of :func:`~.sampling.sample`).

    ``candidates`` (static, 0 = the whole vocabulary): draw among at most that many most likely
    tokens (a top-k every row gets, a row's own top-k is exact up to it); one ``topk`` instead of a
    sort of the whole vocabulary.
    """
    logits = logits.float()
    vocab = logits.shape[-1]
    greedy = logits.argmax(dim=-1)
    x = logits / p.temperature[:, None]
    if 0 < candidates < vocab:
        vals, ids = torch.topk(x, candidates, dim=-1, sorted=True)
    else:
        vals, ids = torch.sort(x, dim=-1, descending=True)
    vocab = vals.shape[-1]
    ar = torch.arange(vocab, device=logits.device)
    vals = vals.masked_fill(ar[None, :] >= p.top_k[:, None], -float("inf"))
    probs = torch.softmax(vals, dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the more likely candidates
    keep = (before < p.top_p[:, None]) | (p.top_p[:, None] >= 1.0)
    probs = probs * keep
    probs = probs * (probs >= probs[:, :1] * p.min_p[:, None])
    cdf = probs.double().cumsum(dim=-1)
    target = u * cdf[:, -1]
    pick = (cdf <= target[:, None]).sum(dim=-1).clamp_max(vocab - 1)  # searchsorted(right=True)
    sampled = ids.gather(1, pick[:, None])[:, 0]
    return torch.where(p.greedy, greedy, sampled)
