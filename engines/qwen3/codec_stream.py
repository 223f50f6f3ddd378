"""The 12 Hz codec decoder, streamed: each chunk of frames decoded once, with the state its causal layers carry.

The decoder (``Qwen3TTSTokenizerV2Decoder``) is causal with no lookahead: a quantizer lookup, a
causal convolution, a transformer with a 72-frame sliding window, then upsampling convolutions
(1920 samples per frame). So a stream's next chunk needs, besides its new frames, only

* per transformer layer, the keys and values of the last ``window - 1`` frames (rotary already
  applied; positions continue the stream's own);
* per causal convolution, its last ``(kernel - 1) * dilation`` input samples; per transposed
  convolution whose kernel is twice its stride, its last input sample (the overlap it adds).

:class:`CodecStream` keeps that state per stream and decodes the due chunks of many streams in one
batched pass (rows right-padded to the longest chunk; causality keeps the padding out of the valid
samples and of the state). Nothing is recomputed: a chunk of ``n`` frames costs ``n`` frames of
decoder work, where a window with left context costs ``n + context``. The result equals decoding
the whole stream at once up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .frame import decoder_layer, rope_tables


@dataclass
class CodecState:
    """One stream's decoder state: frames decoded, transformer keys/values, convolution tails."""

    pos: int = 0
    past: int = 0  # valid frames in ``kv`` (at most window - 1), right-aligned
    kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # per layer (1, H, W, D)
    tails: list[torch.Tensor] = field(default_factory=list)  # per stateful convolution (1, C, P)


class _Rows:
    """The state of the rows of one batched pass, consumed and produced convolution by convolution."""

    def __init__(self, states: list[CodecState], n: list[int], device: torch.device) -> None:
        self.states = states
        self.new_tails: list[torch.Tensor] = []
        self.new_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.i = 0
        self.valid(n, device)

    def valid(self, n: list[int], device: torch.device) -> None:
        """Each row's count of valid frames in the layers that follow."""
        self.n = n
        self.n_t = torch.tensor(n, device=device)
        self.equal = len(set(n)) == 1

    def tail(self, channels: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """The next convolution's tails of every row ``(B, C, width)`` (zeros for a stream's first chunk)."""
        i = self.i
        self.i += 1
        parts = [s.tails[i] if len(s.tails) > i else like.new_zeros(1, channels, width) for s in self.states]
        return torch.cat(parts, dim=0)

    def keep(self, x: torch.Tensor, rate: int, width: int) -> None:
        """Store each row's last ``width`` valid samples of ``x (B, C, width + N * rate)`` as its next tail."""
        if self.equal:
            start = self.n[0] * rate
            self.new_tails.append(x[:, :, start: start + width])
            return
        idx = (self.n_t * rate)[:, None] + torch.arange(width, device=x.device)[None, :]
        self.new_tails.append(x.gather(2, idx[:, None, :].expand(x.shape[0], x.shape[1], width)))


class CodecStream:
    """Streaming decode of one loaded codec decoder (``runner.decoder``) for many streams at once."""

    def __init__(self, decoder) -> None:
        self.dec = decoder
        cfg = decoder.config
        self.window = int(cfg.sliding_window)
        self.samples_per_frame = int(decoder.total_upsample)

    # ---- convolutions ---------------------------------------------------------------------------------
    def _conv(self, m, x: torch.Tensor, rows: _Rows, rate: int) -> torch.Tensor:
        """A causal convolution (``CausalConvNet``: stride 1, left padding ``(k - 1) * d``) with its tail."""
        conv = m.conv
        if conv.stride[0] != 1:
            raise ValueError("streaming decode needs stride-1 causal convolutions")
        width = m.padding
        if width == 0:
            return conv(x)
        xs = torch.cat([rows.tail(x.shape[1], width, x), x], dim=2)
        rows.keep(xs, rate, width)
        return F.conv1d(xs, conv.weight, conv.bias, 1, 0, conv.dilation, conv.groups)

    def _tconv(self, m, x: torch.Tensor, rows: _Rows, rate: int) -> torch.Tensor:
        """A causal transposed convolution (``CausalTransConvNet``: right overlap trimmed) with its tail."""
        conv = m.conv
        stride, kernel = conv.stride[0], conv.kernel_size[0]
        if kernel == stride:  # no overlap between inputs: nothing carries over
            return conv(x)
        if kernel != 2 * stride or m.right_pad != stride:
            raise ValueError(f"streaming decode: transposed convolution kernel {kernel}, stride {stride}")
        xs = torch.cat([rows.tail(x.shape[1], 1, x), x], dim=2)
        rows.keep(xs, rate, 1)
        y = F.conv_transpose1d(xs, conv.weight, conv.bias, stride)
        return y[..., stride: stride + x.shape[-1] * stride]

    def _block(self, m, x: torch.Tensor, rows: _Rows, rate: int) -> tuple[torch.Tensor, int]:
        """One module of the upsampling stack, by its structure; returns the output and its sample rate."""
        if hasattr(m, "right_pad"):
            x = self._tconv(m, x, rows, rate)
            return x, rate * m.conv.stride[0]
        if hasattr(m, "padding") and hasattr(m, "conv"):
            return self._conv(m, x, rows, rate), rate
        if hasattr(m, "dwconv"):  # ConvNeXt block: causal depthwise convolution, then per-sample layers
            h = self._conv(m.dwconv, x, rows, rate).permute(0, 2, 1)
            h = m.pwconv2(m.act(m.pwconv1(m.norm(h))))
            return x + (m.gamma * h).permute(0, 2, 1), rate
        if hasattr(m, "conv1") and hasattr(m, "act1"):  # residual unit
            h = self._conv(m.conv1, m.act1(x), rows, rate)
            return x + self._conv(m.conv2, m.act2(h), rows, rate), rate
        if hasattr(m, "block"):  # decoder block: SnakeBeta, transposed convolution, residual units
            for sub in m.block:
                x, rate = self._block(sub, x, rows, rate)
            return x, rate
        return m(x), rate  # per-sample (SnakeBeta)

    # ---- the transformer ------------------------------------------------------------------------------
    def _transformer(self, x: torch.Tensor, rows: _Rows) -> torch.Tensor:
        """``pre_transformer`` on the new frames ``x (B, N, C)`` over each row's cached keys and values."""
        m = self.dec.pre_transformer
        b, n = x.shape[0], x.shape[1]
        keep = self.window - 1
        dev = x.device
        h = m.input_proj(x)
        pos = torch.tensor([s.pos for s in rows.states], device=dev)
        ar = torch.arange(n, device=dev)
        cos, sin = rope_tables(m.rotary_emb.inv_freq, pos[:, None] + ar[None, :], m.rotary_emb.attention_scaling,
                               h.dtype)
        # keys: `keep` cached slots (row r's valid ones right-aligned), then the n new frames
        past = torch.tensor([s.past for s in rows.states], device=dev)
        slot = torch.arange(keep + n, device=dev)
        t = ar[:, None]
        ok_past = (slot[None, None, :keep] >= t[None]) & (slot[None, None, :keep] >= (keep - past)[:, None, None])
        new = slot[keep:][None, :] - keep
        ok_new = ((new <= t) & (t - new < self.window))[None].expand(b, n, n)
        allowed = torch.cat([ok_past, ok_new], dim=2)
        mask = torch.zeros(b, 1, n, keep + n, dtype=h.dtype, device=dev)
        mask = mask.masked_fill(~allowed[:, None], torch.finfo(h.dtype).min)
        cache = _WindowCache(rows.states, keep)
        for i, layer in enumerate(m.layers):
            h = decoder_layer(layer, h, cos[:, None], sin[:, None], mask, cache, i)
        rows.new_kv = [(cache.keep(k, rows), cache.keep(v, rows)) for k, v in cache.full]
        return m.output_proj(m.norm(h))

    # ---- passes ---------------------------------------------------------------------------------------
    def _front(self, codes: list[torch.Tensor], rows: _Rows) -> torch.Tensor:
        """Quantizer, first convolution and transformer at the frame rate: ``(B, C, N)``."""
        dec = self.dec
        dev = next(dec.parameters()).device
        batch = torch.zeros(len(codes), max(rows.n), codes[0].shape[1], dtype=torch.long, device=dev)
        for i, c in enumerate(codes):
            batch[i, : rows.n[i]] = c.to(dev)
        h = dec.quantizer.decode(batch.clamp_min(0).transpose(1, 2))
        h = self._conv(dec.pre_conv, h, rows, 1)
        return self._transformer(h.transpose(1, 2), rows).permute(0, 2, 1)

    def _back(self, h: torch.Tensor, rows: _Rows) -> torch.Tensor:
        """The upsampling convolutions: ``(B, C, N)`` frame features -> ``(B, N * 1920)`` samples."""
        rate = 1
        for blocks in self.dec.upsample:
            for m in blocks:
                h, rate = self._block(m, h, rows, rate)
        for m in self.dec.decoder:
            h, rate = self._block(m, h, rows, rate)
        return h.clamp(min=-1, max=1)[:, 0]

    @staticmethod
    def _commit(rows: _Rows, frames: list[int], window: int) -> None:
        for i, s in enumerate(rows.states):
            s.pos += frames[i]
            s.past = min(window - 1, s.past + frames[i])
            s.tails = [t[i: i + 1] for t in rows.new_tails]
            s.kv = [(k[i: i + 1], v[i: i + 1]) for k, v in rows.new_kv]

    @torch.no_grad()
    def decode(self, codes: list[torch.Tensor], states: list[CodecState]) -> list[torch.Tensor]:
        """Decode each row's new frames ``codes[i] (n_i, 16)`` after its ``states[i]`` (updated in place):
        ``n_i * 1920`` samples per row."""
        n = [int(c.shape[0]) for c in codes]
        rows = _Rows(states, n, next(self.dec.parameters()).device)
        wav = self._back(self._front(codes, rows), rows)
        self._commit(rows, n, self.window)
        return [wav[i, : n[i] * self.samples_per_frame] for i in range(len(codes))]

    @torch.no_grad()
    def prime(self, codes: torch.Tensor, state: CodecState, conv_frames: int) -> None:
        """Start ``state`` after ``codes (R, 16)`` without producing their audio (a cloned voice's
        reference codes as left context): the transformer sees them all, the upsampling convolutions
        (receptive field under 6 frames) only the last ``conv_frames``."""
        r = int(codes.shape[0])
        if r == 0:
            return
        dev = next(self.dec.parameters()).device
        rows = _Rows([state], [r], dev)
        h = self._front([codes], rows)
        c = max(1, min(conv_frames, r))
        rows.valid([c], dev)
        self._back(h[:, :, r - c:], rows)
        self._commit(rows, [r], self.window)


class _WindowCache:
    """The transformer's keys and values for one pass: each row's cached window, then its new frames."""

    def __init__(self, states: list[CodecState], keep: int) -> None:
        self.states, self.keep_n = states, keep
        self.full: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _past(self, i: int, heads: int, dim: int, like: torch.Tensor, which: int) -> torch.Tensor:
        parts = [s.kv[i][which] if s.kv else like.new_zeros(1, heads, self.keep_n, dim) for s in self.states]
        return torch.cat(parts, dim=0)

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        h, d = key_states.shape[1], key_states.shape[3]
        k = torch.cat([self._past(layer_idx, h, d, key_states, 0), key_states], dim=2)
        v = torch.cat([self._past(layer_idx, h, d, value_states, 1), value_states], dim=2)
        self.full.append((k, v))
        return k, v

    def keep(self, x: torch.Tensor, rows: _Rows) -> torch.Tensor:
        """Each row's last ``keep`` keys/values of ``x (B, H, keep + N, D)``: slots ``n_r .. n_r + keep``."""
        w = self.keep_n
        if rows.equal:
            return x[:, :, rows.n[0]: rows.n[0] + w]
        idx = rows.n_t[:, None] + torch.arange(w, device=x.device)[None, :]
        return x.gather(2, idx[:, None, :, None].expand(x.shape[0], x.shape[1], w, x.shape[3]))
