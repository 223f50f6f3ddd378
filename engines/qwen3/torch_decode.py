"""The torch generation's decode loop: one talker step for all streams, then the 15 code-predictor steps.

The talker runs in a :class:`~.torch_talker.TorchTalker` with one KV row per stream; one talker
step serves every active stream, the code predictor runs batched across them, and sampling is per
stream (own options, own random numbers) through :func:`~.sampling.sample`. Everything here runs
on the engine's model thread.
"""

from __future__ import annotations

from typing import Any

import torch

from .model import Qwen3Runner, Stream
from .sampling import penalize_repeats, sample
from .torch_talker import TorchTalker


class _CPCache:
    """Minimal KV cache for the code predictor (all rows share one length)."""

    def __init__(self, layers: int) -> None:
        self.k: list[torch.Tensor | None] = [None] * layers
        self.v: list[torch.Tensor | None] = [None] * layers

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        k, v = self.k[layer_idx], self.v[layer_idx]
        if k is not None and v is not None:
            key_states = torch.cat([k, key_states], dim=2)
            value_states = torch.cat([v, value_states], dim=2)
        self.k[layer_idx], self.v[layer_idx] = key_states, value_states
        return key_states, value_states


def _past_hidden(s: Stream) -> torch.Tensor:
    assert s.past_hidden is not None, "stream not prefilled"
    return s.past_hidden


class TorchDecode:
    """Prefill and per-frame steps of many streams on one loaded checkpoint (rows in talker order)."""

    def __init__(self, runner: Qwen3Runner, max_rows: int) -> None:
        self.runner = runner
        self.talker = TorchTalker(runner.talker, max_rows)
        self.cp = runner.talker.code_predictor
        self._cp_rope_cache: tuple[Any, Any] | None = None

    @property
    def rows(self) -> int:
        return self.talker.rows

    def remove(self, row: int) -> int | None:
        """Drop ``row`` from the talker batch; returns the former index of the row moved into its place."""
        return self.talker.remove(row)

    def stats(self) -> dict[str, Any]:
        return self.talker.stats()

    def _pick_talker_tokens(self, streams: list[Stream], logits: torch.Tensor) -> list[int]:
        r = self.runner
        logits = logits.float()
        pen = torch.tensor([s.sampling.repetition_penalty for s in streams], device=logits.device)
        if bool((pen != 1.0).any()) and any(s.tokens for s in streams):
            logits = penalize_repeats(logits, torch.stack([s.seen for s in streams]), pen)
        no_eos = torch.tensor([len(s.tokens) < 2 or s.sampling.ignore_eos for s in streams], device=logits.device)
        logits[no_eos, r.eos] = -float("inf")
        logits = logits.masked_fill(r.suppress[None, :], -float("inf"))
        toks = sample(logits, [s.sampling for s in streams], [s.randoms for s in streams]).tolist()
        for s, t in zip(streams, toks, strict=True):
            s.tokens.append(t)
            s.seen[t] = True
        return toks

    @torch.no_grad()
    def prefill(self, streams: list[Stream]) -> None:
        """Append new streams to the talker batch (one forward for all) and pick their first tokens."""
        if not streams:
            return
        logits, hidden = self.talker.prefill([s.prompt.embeds for s in streams])
        toks = self._pick_talker_tokens(streams, logits)
        for i, (s, t) in enumerate(zip(streams, toks, strict=True)):
            s.past_hidden = hidden[i]
            s.pending = t
            if s.sampling.max_frames <= 0 or t == self.runner.eos:
                s.done = True

    def _cp_rope(self, hidden: torch.Tensor):
        key = (hidden.dtype, hidden.device)
        cached = self._cp_rope_cache
        if cached is None or cached[0] != key:
            pos = torch.arange(self.runner.groups + 1, device=hidden.device).view(1, -1)
            cached = (key, self.cp.model.rotary_emb(hidden, pos))
            self._cp_rope_cache = cached
        return cached[1]

    def _cp_forward(self, x: torch.Tensor, cache: _CPCache, start: int) -> torch.Tensor:
        """The code predictor's decoder on ``x (B, T, D)`` at positions ``start..``; returns last hidden."""
        m = self.cp.model
        cos, sin = self._cp_rope(x)
        t = x.shape[1]
        pe = (cos[:, start : start + t], sin[:, start : start + t])
        h = x
        for layer in m.layers:
            out = layer(h, attention_mask=None, past_key_values=cache, use_cache=True, position_embeddings=pe)
            h = out[0] if isinstance(out, tuple) else out
        return m.norm(h[:, -1])

    @torch.no_grad()
    def predict_codes(self, streams: list[Stream]) -> torch.Tensor:
        """The 15 code-predictor steps for every stream at once -> full frames ``(B, 16)``."""
        r = self.runner
        b = len(streams)
        tok0 = torch.tensor([s.pending for s in streams], device=r.device).view(b, 1)
        last_id_hidden = r.talker.get_input_embeddings()(tok0)  # (B, 1, D)
        past_hidden = torch.stack([_past_hidden(s) for s in streams]).view(b, 1, -1)
        rows = [s.sampling.predictor for s in streams]
        randoms = [s.randoms for s in streams]
        cp = self.cp
        emb = cp.model.get_input_embeddings()
        cache = _CPCache(len(cp.model.layers))
        x = cp.small_to_mtp_projection(torch.cat((past_hidden, last_id_hidden), dim=1))
        h = self._cp_forward(x, cache, 0)
        codes = [tok0]
        for g in range(1, r.groups):
            logits = cp.lm_head[g - 1](h)
            tok = sample(logits, rows, randoms).view(b, 1)
            codes.append(tok)
            if g == r.groups - 1:
                break
            x = cp.small_to_mtp_projection(emb[g - 1](tok))
            h = self._cp_forward(x, cache, g + 1)
        return torch.cat(codes, dim=1)

    def _next_embeds(self, streams: list[Stream], frames: torch.Tensor) -> torch.Tensor:
        r = self.runner
        b = frames.shape[0]
        embs = [r.talker.get_input_embeddings()(frames[:, :1])]
        cp_emb = self.cp.get_input_embeddings()
        for i in range(r.groups - 1):
            embs.append(cp_emb[i](frames[:, i + 1 : i + 2]))
        x = torch.cat(embs, dim=1).sum(1, keepdim=True)  # (B, 1, D)
        text = []
        for s in streams:
            tr = s.prompt.trailing
            text.append(tr[s.step] if s.step < tr.shape[0] else s.prompt.tts_pad)
        return (x + torch.stack(text).view(b, 1, -1))[:, 0]

    @torch.no_grad()
    def step(self, streams: list[Stream]) -> None:
        """One frame for every stream (all rows of the talker, in row order)."""
        live = [s for s in streams if not s.done]
        assert len(streams) == self.talker.rows
        if not live:
            return
        frames = self.predict_codes(streams)
        for i, s in enumerate(streams):
            if not s.done:
                s.frames.append(frames[i])
                if s.n_frames >= s.sampling.max_frames:
                    s.done = True
        if all(s.done for s in streams):
            return
        x = self._next_embeds(streams, frames)
        logits, hidden = self.talker.decode(x)
        rows = [i for i, s in enumerate(streams) if not s.done]
        toks = self._pick_talker_tokens([streams[i] for i in rows], logits[rows])
        for i, t in zip(rows, toks, strict=True):
            s = streams[i]
            s.step += 1
            s.past_hidden = hidden[i]
            s.pending = t
            if t == self.runner.eos:
                s.done = True
