"""One Qwen3-TTS frame's math, once, for every decode loop (torch, static, vLLM).

A frame is: the code predictor's 15 dependent steps from the talker's hidden state and codebook 0
(:meth:`FrameKernel.residual_codes`), the next talker input (the sum of the frame's 16 codebook
embeddings plus the next text embedding, :meth:`FrameKernel.next_input`), and the codebook-0 rules
on the talker's logits (repetition penalty, no end-of-speech before two tokens or when ignored, the
reference's suppressed ids, :meth:`FrameKernel.codebook0_logits`). How tokens are drawn is the
caller's (``pick``): the torch and vLLM loops sample with each stream's own random numbers, the
static step with counter-based ones.

The decoder layers (talker and code predictor) run through :func:`decoder_layer`: the checkpoint's
own projections, norms and MLP, attention through ``scaled_dot_product_attention`` with the query
heads of each key/value head folded into the query length (grouped-query attention without a
``repeat_kv`` copy of the cache), and rotary tables computed once per step for all layers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .sampling import penalize_repeats

Pick = Callable[[int, torch.Tensor], torch.Tensor]
"""``pick(codebook, logits (B, V)) -> tokens (B,)``: how a loop draws codebooks 1..15."""


class PredictorCache:
    """The code predictor's KV cache for one frame (every row at the same length; grows by concatenation)."""

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


def rope_tables(inv_freq: torch.Tensor, positions: torch.Tensor, scaling: float,
                dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary ``cos, sin`` ``(B, T, head_dim)`` for ``positions (B, T)``, as the checkpoint's rotary modules
    compute them (float32, then ``dtype``). The talker's multimodal rope takes three position rows;
    speech has text positions only (the three rows are equal), where it is this 1-D rope."""
    freqs = positions[..., None].float() * inv_freq.float()[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * scaling).to(dtype), (emb.sin() * scaling).to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
           scale: float) -> torch.Tensor:
    """Grouped-query attention: ``q (B, Hq, T, D)`` over ``k, v (B, Hkv, S, D)`` -> ``(B, Hq, T, D)``.

    The ``Hq / Hkv`` query heads sharing a key/value head become query positions of that head (the
    reference maps query head ``h`` to key/value head ``h // groups``), so one SDPA call reads the
    cache as it is. ``mask``: additive ``(B, 1, T, S)``, or ``None`` for causal attention ending at the
    last key (``T == 1``: every key).
    """
    b, hq, t, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    g = hq // hkv
    if mask is None and t > 1:
        ar = torch.arange(s, device=q.device)
        future = ar[None, :] > (ar[s - t:, None])
        mask = torch.zeros(t, s, dtype=q.dtype, device=q.device).masked_fill(future, torch.finfo(q.dtype).min)
        mask = mask[None, None]
    if g > 1:
        q = q.reshape(b, hkv, g * t, d)
        if mask is not None and t > 1:
            mask = mask[:, :, None].expand(mask.shape[0], 1, g, t, s).reshape(mask.shape[0], 1, g * t, s)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    return out.reshape(b, hq, t, d)


def decoder_layer(layer, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                  cache, index: int) -> torch.Tensor:
    """One Qwen3 decoder layer of the checkpoint (``input_layernorm``, ``self_attn`` with q/k norms,
    ``post_attention_layernorm``, ``mlp``; the codec decoder's also scale both residual branches) on
    ``h (B, T, D)``; ``cos, sin (B|1, 1, T, head_dim)``; ``cache.update(k, v, index)`` returns the keys
    and values to attend over."""
    attn = layer.self_attn
    b, t, _ = h.shape
    x = layer.input_layernorm(h)
    q = attn.q_norm(attn.q_proj(x).view(b, t, -1, attn.head_dim)).transpose(1, 2)
    k = attn.k_norm(attn.k_proj(x).view(b, t, -1, attn.head_dim)).transpose(1, 2)
    v = attn.v_proj(x).view(b, t, -1, attn.head_dim).transpose(1, 2)
    q = q * cos + _rotate_half(q) * sin
    k = k * cos + _rotate_half(k) * sin
    k, v = cache.update(k, v, index)
    o = attn.o_proj(attend(q, k, v, mask, attn.scaling).transpose(1, 2).reshape(b, t, -1))
    h = h + (layer.self_attn_layer_scale(o) if hasattr(layer, "self_attn_layer_scale") else o)
    m = layer.mlp(layer.post_attention_layernorm(h))
    return h + (layer.mlp_layer_scale(m) if hasattr(layer, "mlp_layer_scale") else m)


class FrameKernel:
    """The per-frame math on one loaded talker's code predictor and codebook embeddings.

    ``embed0``: codebook 0's embedding (the talker's input embedding); ``suppress``: ``(V,)`` bool,
    the ids the reference never samples.
    """

    def __init__(self, code_predictor, embed0: Callable[[torch.Tensor], torch.Tensor], groups: int, eos: int,
                 suppress: torch.Tensor) -> None:
        self.cp = code_predictor
        self.embed0 = embed0
        self.groups = groups
        self.eos = eos
        self.suppress = suppress
        self.eos_col = torch.zeros_like(suppress)
        self.eos_col[eos] = True
        p = next(code_predictor.parameters())
        rotary = code_predictor.model.rotary_emb
        pos = torch.arange(groups + 1, device=p.device)[None]
        cos, sin = rope_tables(rotary.inv_freq, pos, rotary.attention_scaling, p.dtype)
        self._rope = (cos[:, None], sin[:, None])  # (1, 1, groups + 1, head_dim): positions of one frame

    def predictor_forward(self, x: torch.Tensor, cache: PredictorCache, start: int) -> torch.Tensor:
        """The code predictor's decoder on ``x (B, T, D)`` at positions ``start..``; returns the last hidden."""
        m = self.cp.model
        t = x.shape[1]
        cos, sin = (r[:, :, start:start + t] for r in self._rope)
        for i, layer in enumerate(m.layers):
            x = decoder_layer(layer, x, cos, sin, None, cache, i)
        return m.norm(x[:, -1])

    def residual_codes(self, hidden: torch.Tensor, tok0: torch.Tensor, pick: Pick) -> torch.Tensor:
        """Codebooks 1..15 after ``tok0 (B,)`` from the talker's ``hidden (B, D)``: the frame ``(B, 16)``."""
        cp = self.cp
        emb = cp.model.get_input_embeddings()
        first = self.embed0(tok0)
        x = torch.stack((hidden.to(first.dtype), first), dim=1)
        cache = PredictorCache(len(cp.model.layers))
        h = self.predictor_forward(cp.small_to_mtp_projection(x), cache, 0)
        codes = [tok0]
        for g in range(1, self.groups):
            tok = pick(g, cp.lm_head[g - 1](h))
            codes.append(tok)
            if g < self.groups - 1:
                h = self.predictor_forward(cp.small_to_mtp_projection(emb[g - 1](tok)[:, None]), cache, g + 1)
        return torch.stack(codes, dim=1)

    def next_input(self, codes: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The talker's next input ``(B, D)``: the frame's 16 codebook embeddings summed, plus ``text (B, D)``."""
        emb = self.cp.model.get_input_embeddings()
        parts = [self.embed0(codes[:, 0])] + [emb[i](codes[:, i + 1]) for i in range(self.groups - 1)]
        return torch.stack(parts, dim=1).sum(1) + text.to(parts[0].dtype)

    def codebook0_logits(self, logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor,
                         no_eos: torch.Tensor) -> torch.Tensor:
        """The talker's ``logits (B, V)`` as codebook 0 is drawn from: float32, ``seen (B, V)`` tokens
        penalised by ``penalty (B,)``, end-of-speech masked on ``no_eos (B,)`` rows, suppressed ids masked."""
        logits = penalize_repeats(logits.float(), seen, penalty)
        logits = logits.masked_fill(no_eos[:, None] & self.eos_col[None, :], -float("inf"))
        return logits.masked_fill(self.suppress[None, :], -float("inf"))
