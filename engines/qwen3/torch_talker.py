"""The talker LLM in PyTorch for the torch generation: the checkpoint's own layers, one KV row per stream.

The talker is a Qwen3-style decoder over input *embeddings* (text + codec embeddings are summed
by the caller). :class:`TorchTalker` keeps one KV cache row per active stream, in batch order:

* ``prefill(embeds)`` appends one row per prompt (prompts of different lengths run together in one
  forward, right-padded and masked) and returns the logits and last hidden state of each;
* ``decode(embeds)`` runs one step for every row at once (each row at its own position);
* ``remove(row)`` drops a finished row; the last row moves into its place (swap-remove), so active
  rows always occupy ``0..rows-1`` and a decode step reads the cache without gathering.

It runs the checkpoint's own decoder layers' weights through :func:`~.frame.decoder_layer` (the
reference's math; attention through SDPA's grouped-query path, rotary tables once per step) over a
slot-based KV cache.
"""

from __future__ import annotations

from typing import Any

import torch

from .frame import decoder_layer, rope_tables


class _SlotCache:
    """Per-layer K/V storage ``(rows, kv_heads, capacity, head_dim)`` used through HF's ``Cache.update``."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, max_rows: int, dtype, device) -> None:
        self.layers, self.kv_heads, self.head_dim = layers, kv_heads, head_dim
        self.max_rows, self.dtype, self.device = max_rows, dtype, device
        self.capacity = 0
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []
        self.lengths = torch.zeros(max_rows, dtype=torch.long)  # CPU copy: tokens cached per row
        self._mode = "decode"
        self._start = 0
        self._width = 0
        self._pos: torch.Tensor | None = None
        self._rows = 0

    def ensure(self, length: int) -> None:
        if length <= self.capacity:
            return
        cap = max(256, self.capacity)
        while cap < length:
            cap *= 2
        shape = (self.max_rows, self.kv_heads, cap, self.head_dim)
        new_k = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(self.layers)]
        new_v = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(self.layers)]
        if self.capacity:
            for i in range(self.layers):
                new_k[i][:, :, : self.capacity] = self.k[i]
                new_v[i][:, :, : self.capacity] = self.v[i]
        self.k, self.v, self.capacity = new_k, new_v, cap

    def begin_prefill(self, start: int, width: int) -> None:
        self._mode, self._start, self._width = "prefill", start, width

    def begin_decode(self, rows: int, pos: torch.Tensor, width: int) -> None:
        self._mode, self._rows, self._pos, self._width = "decode", rows, pos, width

    # the one method of transformers' Cache API the decoder layers call
    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        k, v = self.k[layer_idx], self.v[layer_idx]
        if self._mode == "prefill":
            s, n, t = self._start, key_states.shape[0], key_states.shape[2]
            k[s : s + n, :, :t] = key_states
            v[s : s + n, :, :t] = value_states
            return k[s : s + n, :, :t], v[s : s + n, :, :t]
        b = self._rows
        idx = torch.arange(b, device=k.device)
        k[idx, :, self._pos] = key_states[:, :, 0]
        v[idx, :, self._pos] = value_states[:, :, 0]
        return k[:b, :, : self._width], v[:b, :, : self._width]

    def move(self, src: int, dst: int) -> None:
        n = int(self.lengths[src])
        for i in range(self.layers):
            self.k[i][dst, :, :n] = self.k[i][src, :, :n]
            self.v[i][dst, :, :n] = self.v[i][src, :, :n]
        self.lengths[dst] = n
        self.lengths[src] = 0


class TorchTalker:
    """The checkpoint's talker layers run in PyTorch with a slot KV cache (rows compacted in place)."""

    def __init__(self, talker, max_rows: int) -> None:
        self.talker = talker
        self.model = talker.model
        cfg = talker.config
        p = next(talker.parameters())
        self.device, self.dtype = p.device, p.dtype
        self.cache = _SlotCache(
            cfg.num_hidden_layers, cfg.num_key_value_heads,
            getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads), max_rows, p.dtype, p.device,
        )
        self.max_rows = max_rows
        self._rows = 0
        self._neg = torch.finfo(p.dtype).min

    @property
    def rows(self) -> int:
        """Number of active rows (streams) in the cache."""
        return self._rows

    def _run(self, hidden: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The decoder on ``hidden (B, T, D)`` at ``positions (B, T)`` with an additive ``mask (B, 1, T, S)``."""
        rotary = self.model.rotary_emb
        cos, sin = rope_tables(rotary.inv_freq, positions, rotary.attention_scaling, hidden.dtype)
        cos, sin = cos[:, None], sin[:, None]
        for i, layer in enumerate(self.model.layers):
            hidden = decoder_layer(layer, hidden, cos, sin, mask, self.cache, i)
        return self.model.norm(hidden)

    @torch.no_grad()
    def prefill(self, embeds: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Append one row per prompt ``(T_i, D)``; returns logits ``(P, V)`` and hidden ``(P, D)``."""
        n = len(embeds)
        if self._rows + n > self.max_rows:
            raise RuntimeError(f"talker cache full ({self._rows}+{n} > {self.max_rows} rows)")
        lens = [int(e.shape[0]) for e in embeds]
        width = max(lens)
        self.cache.ensure(width + 1)
        x = torch.zeros(n, width, embeds[0].shape[-1], dtype=self.dtype, device=self.device)
        for i, e in enumerate(embeds):
            x[i, : lens[i]] = e
        lens_t = torch.tensor(lens, device=self.device)
        ar = torch.arange(width, device=self.device)
        allowed = (ar[None, :, None] >= ar[None, None, :]) & (ar[None, None, :] < lens_t[:, None, None])
        mask = torch.zeros(n, 1, width, width, dtype=self.dtype, device=self.device)
        mask.masked_fill_(~allowed[:, None], self._neg)
        pos = ar.view(1, -1).expand(n, -1)
        start = self._rows
        self.cache.begin_prefill(start, width)
        hidden = self._run(x, pos, mask)
        last = hidden[torch.arange(n, device=self.device), lens_t - 1]
        for i, ln in enumerate(lens):
            self.cache.lengths[start + i] = ln
        self._rows += n
        return self.talker.codec_head(last), last

    @torch.no_grad()
    def decode(self, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for all rows: ``embeds (rows, D)`` -> logits ``(rows, V)``, hidden ``(rows, D)``."""
        b = self._rows
        assert embeds.shape[0] == b
        lengths = self.cache.lengths[:b]
        width = int(lengths.max()) + 1
        self.cache.ensure(width)
        pos = lengths.to(self.device)
        ar = torch.arange(width, device=self.device)
        mask = torch.zeros(b, 1, 1, width, dtype=self.dtype, device=self.device)
        mask.masked_fill_((ar[None, :] > pos[:, None])[:, None, None, :], self._neg)
        self.cache.begin_decode(b, pos, width)
        hidden = self._run(embeds.view(b, 1, -1).to(self.dtype), pos.view(b, 1), mask)[:, 0]
        self.cache.lengths[:b] += 1
        return self.talker.codec_head(hidden), hidden

    def remove(self, row: int) -> int | None:
        """Drop ``row``; returns the former index of the row moved into its place, if any."""
        last = self._rows - 1
        moved = None
        if row != last:
            self.cache.move(last, row)
            moved = last
        else:
            self.cache.lengths[row] = 0
        self._rows -= 1
        return moved

    def stats(self) -> dict[str, Any]:
        return {"kv_capacity_tokens": self.cache.capacity, "rows": self._rows, "max_rows": self.max_rows}
