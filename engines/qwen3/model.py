"""Qwen3-TTS generation for many streams at once, on one loaded checkpoint.

Prompts are built by the reference package's own code (``Qwen3TTSModel.generate_*`` up to the
point where it would start its talker loop), so every kind and mode (preset speaker, dialects,
instructions, voice design, x-vector and in-context voice cloning) is formatted exactly as upstream.
What follows is ours: the talker runs in a :class:`~engines.qwen3.backend.TalkerBackend` with one
KV row per stream, one talker step serves every active stream, the 15 code-predictor steps run
batched across them, sampling is per stream (own options, own ``torch.Generator``), and codec
decoding runs batched across streams on windows with left context.

Everything here runs on the engine's model thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .backend import TalkerBackend, make_backend

LANGUAGE_ALIASES = {
    "zh": "chinese", "en": "english", "de": "german", "it": "italian", "pt": "portuguese", "es": "spanish",
    "ja": "japanese", "ko": "korean", "fr": "french", "ru": "russian",
}
SAMPLES_PER_FRAME = 1920


@dataclass
class Prompt:
    embeds: torch.Tensor  # (T, D) talker input for prefill
    trailing: torch.Tensor  # (N, D) text embeddings added to the following steps
    tts_pad: torch.Tensor  # (D,) added once the trailing text is used up
    ref_code: torch.Tensor | None = None  # (R, 16) reference codes (in-context cloning): decoder left context


@dataclass
class Sampling:
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    sub_do_sample: bool = False
    sub_temperature: float = 1.0
    sub_top_k: int = 0
    sub_top_p: float = 1.0
    max_frames: int = 2047
    fixed_frames: bool = False
    """Generate exactly ``max_frames`` frames, never stopping at end-of-speech (benchmarks)."""
    seed: int | None = None


@dataclass
class Stream:
    """One request's generation state."""

    id: str
    prompt: Prompt
    sampling: Sampling
    first_chunk_frames: int = 4
    chunk_frames: int = 12
    generator: "Uniforms | None" = None
    tokens: list[int] = field(default_factory=list)  # codebook-0 tokens generated (talker outputs)
    frames: list[torch.Tensor] = field(default_factory=list)  # (16,) codes per finished frame
    pending: int | None = None  # codebook-0 token waiting for its 15 sub-codes
    past_hidden: torch.Tensor | None = None  # (D,) talker hidden that produced ``pending``
    step: int = 0  # talker decode steps done (index into trailing text)
    emitted: int = 0  # frames already decoded to audio
    done: bool = False
    seen: torch.Tensor | None = None  # (V,) bool: tokens generated, for the repetition penalty

    @property
    def n_frames(self) -> int:
        return len(self.frames)


class Uniforms:
    """A stream's own random numbers: uniforms in [0, 1) from its ``torch.Generator``, drawn in blocks."""

    def __init__(self, seed: int | None, block: int = 64) -> None:
        self.generator = torch.Generator(device="cpu")
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self.block = block
        self._buf: list[float] = []

    def next(self) -> float:
        if not self._buf:
            self._buf = torch.rand(self.block, dtype=torch.float64, generator=self.generator).tolist()[::-1]
        return self._buf.pop()


def _uniform(source) -> float:
    if isinstance(source, Uniforms):
        return source.next()
    return float(torch.rand((), dtype=torch.float64, generator=source))


class _Captured(Exception):
    def __init__(self, kwargs: dict) -> None:
        super().__init__("captured")
        self.kwargs = kwargs


def _checkpoint_fingerprint(path: Path) -> str:
    h = hashlib.sha1()
    for rel in ("config.json", "speech_tokenizer/config.json", "model.safetensors",
                "speech_tokenizer/model.safetensors"):
        p = path / rel
        if not p.is_file():
            continue
        h.update(rel.encode())
        h.update(str(p.stat().st_size).encode())
        with open(p, "rb") as f:
            h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


class Qwen3Runner:
    """Owns the loaded checkpoint; all methods run on one thread."""

    def __init__(self, model_path: str, device: str = "cpu", dtype: str = "auto", backend: str = "torch",
                 max_rows: int = 8, decode_context: int = 72, conv_context: int = 8,
                 threads: int | None = None) -> None:
        from ._compat import import_qwen_tts

        if threads:
            torch.set_num_threads(int(threads))

        qwen_tts = import_qwen_tts()
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        torch_dtype = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                       "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
        self.path = Path(model_path)
        self.tts = qwen_tts.Qwen3TTSModel.from_pretrained(str(self.path), dtype=torch_dtype, device_map=device)
        self.model = self.tts.model
        self.model.eval()
        # the codec decoder produces NaN (silence) in bf16: keep it in fp32
        self.model.speech_tokenizer.model.float()
        self.talker = self.model.talker
        self.cp = self.talker.code_predictor
        self.device = next(self.talker.parameters()).device
        self.dtype = next(self.talker.parameters()).dtype
        self.tts.device = self.device
        cfg = self.model.config.talker_config
        self.kind: str = self.model.tts_model_type
        self.model_size: str = self.model.tts_model_size
        self.eos = int(cfg.codec_eos_token_id)
        self.vocab = int(cfg.vocab_size)
        self.groups = int(cfg.num_code_groups)
        suppress = torch.zeros(self.vocab, dtype=torch.bool)
        suppress[self.vocab - 1024:] = True
        suppress[self.eos] = False
        self.suppress = suppress.to(self.device)
        # "vllm": the talker runs in vLLM's engine (engines/qwen3/vllm); this process keeps no talker cache
        self.backend: TalkerBackend | None = None if backend == "vllm" else make_backend(backend, self.talker, max_rows)
        self.decoder = self.model.speech_tokenizer.model.decoder
        self.decode_context = decode_context
        self.conv_context = conv_context
        self.sample_rate = int(self.model.speech_tokenizer.get_output_sample_rate())
        self.samples_per_frame = int(self.model.speech_tokenizer.get_decode_upsample_rate())
        self.generate_defaults: dict[str, Any] = dict(self.tts.generate_defaults or {})
        self.fingerprint = _checkpoint_fingerprint(self.path)
        self.device_type = self.device.type

    # ---- what the checkpoint offers -----------------------------------------------------
    def speakers(self) -> list[str]:
        return sorted(str(s).lower() for s in (self.model.get_supported_speakers() or []))

    def languages(self) -> list[str]:
        langs = [str(x).lower() for x in self.model.get_supported_languages()]
        aliases = [a for a, full in LANGUAGE_ALIASES.items() if full in langs]
        return langs + aliases

    def instruct_supported(self) -> bool:
        if self.kind == "voice_design":
            return True
        return self.kind == "custom_voice" and self.model_size not in "0b6"

    # ---- prompts --------------------------------------------------------------------------
    def _capture(self, fn, *args, **kwargs) -> dict:
        """Run a reference ``generate_*`` method up to its talker loop and return the loop's inputs."""

        def capture(**kw):
            raise _Captured(kw)

        self.talker.generate = capture  # instance attribute shadows the method
        try:
            fn(*args, **kwargs)
        except _Captured as c:
            return c.kwargs
        finally:
            del self.talker.generate
        raise RuntimeError("reference generate did not reach the talker")  # pragma: no cover

    @torch.no_grad()
    def build_prompt(self, text: str, language: str = "auto", speaker: str | None = None,
                     instruct: str | None = None, clone: Any = None) -> Prompt:
        lang = LANGUAGE_ALIASES.get(language.lower(), language.lower()) if language else "auto"
        kw = dict(language=lang, max_new_tokens=1, do_sample=False)
        if self.kind == "custom_voice":
            captured = self._capture(self.tts.generate_custom_voice, text, speaker=speaker, instruct=instruct, **kw)
        elif self.kind == "voice_design":
            captured = self._capture(self.tts.generate_voice_design, text, instruct=instruct or "", **kw)
        elif self.kind == "base":
            if clone is None:
                raise ValueError("Base checkpoints need a voice-clone prompt")
            captured = self._capture(self.tts.generate_voice_clone, text, voice_clone_prompt=[clone], **kw)
        else:  # pragma: no cover
            raise ValueError(f"unknown checkpoint kind {self.kind!r}")
        embeds = captured["inputs_embeds"][0]
        mask = captured["attention_mask"][0].bool()
        trailing = captured["trailing_text_hidden"][0]
        ref_code = None
        if clone is not None and getattr(clone, "icl_mode", False) and clone.ref_code is not None:
            ref_code = clone.ref_code.to(self.device)
        return Prompt(embeds=embeds[mask], trailing=trailing, tts_pad=captured["tts_pad_embed"].reshape(-1),
                      ref_code=ref_code)

    @torch.no_grad()
    def clone_prompt(self, samples: np.ndarray, sample_rate: int, text: str | None):
        """Encode reference audio (+ transcript) into a reusable clone prompt (``VoiceClonePromptItem``)."""
        if self.kind != "base":
            raise ValueError("only Base checkpoints clone voices")
        xvec_only = not (text and text.strip())
        items = self.tts.create_voice_clone_prompt(
            ref_audio=(np.asarray(samples, dtype=np.float32), int(sample_rate)),
            ref_text=None if xvec_only else text, x_vector_only_mode=xvec_only)
        item = items[0]
        if item.ref_code is not None:
            item.ref_code = item.ref_code.detach().to("cpu")
        item.ref_spk_embedding = item.ref_spk_embedding.detach().to("cpu")
        return item

    # ---- sampling ---------------------------------------------------------------------------
    def sampling_for(self, temperature=None, top_k=None, top_p=None, repetition_penalty=None,
                     max_new_tokens=None, seed=None, fixed_frames: int | None = None) -> Sampling:
        d = self.generate_defaults

        def pick(name, val, hard):
            return val if val is not None else d.get(name, hard)

        s = Sampling()
        if temperature is not None and temperature <= 0:
            s.do_sample = s.sub_do_sample = False
        else:
            s.do_sample = bool(pick("do_sample", None, True))
            s.sub_do_sample = bool(pick("subtalker_dosample", None, True))
        s.temperature = float(pick("temperature", temperature, 0.9))
        s.top_k = int(pick("top_k", top_k, 50))
        s.top_p = float(pick("top_p", top_p, 1.0))
        # one knob for both transformers unless the request leaves it to the checkpoint
        s.sub_temperature = float(temperature if temperature is not None and temperature > 0
                                  else d.get("subtalker_temperature", 0.9))
        s.sub_top_k = int(top_k if top_k is not None else d.get("subtalker_top_k", 50))
        s.sub_top_p = float(top_p if top_p is not None else d.get("subtalker_top_p", 1.0))
        s.repetition_penalty = float(pick("repetition_penalty", repetition_penalty, 1.05))
        tokens = int(pick("max_new_tokens", max_new_tokens, 2048))
        # the reference loop computes a frame for every codebook-0 token but the last one
        s.max_frames = max(0, tokens - 1)
        if fixed_frames:
            s.max_frames, s.fixed_frames = int(fixed_frames), True
        s.seed = seed
        return s

    def _sample(self, logits: torch.Tensor, greedy: list[bool], temps: list[float], top_ks: list[int],
                top_ps: list[float], gens: list) -> torch.Tensor:
        """One token per row: argmax for greedy rows, else temperature -> top-k -> top-p -> draw.

        The semantics of transformers' warpers (top-p keeps the smallest head of the sorted
        distribution whose mass reaches ``top_p``), computed on the top-k candidates only. Each
        row draws one uniform from its own generator, so a stream's draws do not depend on the
        other rows of the batch.
        """
        out = logits.argmax(dim=-1)
        rows = [i for i, g in enumerate(greedy) if not g]
        if not rows:
            return out
        idx = torch.tensor(rows, device=logits.device) if len(rows) < len(greedy) else None
        x = (logits[idx] if idx is not None else logits).float()
        vocab = x.shape[-1]
        t = torch.tensor([max(temps[i], 1e-5) for i in rows], dtype=x.dtype)
        x = x / t.to(x.device)[:, None]
        ks = [top_ks[i] if 0 < top_ks[i] < vocab else vocab for i in rows]
        kmax = max(ks)
        if kmax < vocab:  # unsorted top-k then a sort of the k survivors: cheaper than a sorted top-k
            vals, ids = torch.topk(x, kmax, dim=-1, sorted=False)
            vals, order = torch.sort(vals, dim=-1, descending=True)
            ids = ids.gather(1, order)
        else:
            vals, ids = torch.sort(x, dim=-1, descending=True)
        if min(ks) < kmax:
            ar = torch.arange(kmax, device=x.device)
            vals = vals.masked_fill(ar[None, :] >= torch.tensor(ks, device=x.device)[:, None], -float("inf"))
        probs = torch.softmax(vals, dim=-1)
        ps = [top_ps[i] for i in rows]
        if min(ps) < 1.0:
            before = probs.cumsum(dim=-1) - probs  # mass of the more likely candidates
            keep = before < torch.tensor(ps, device=x.device, dtype=probs.dtype)[:, None]
            probs = probs * keep
        cdf = probs.double().cumsum(dim=-1)
        u = torch.tensor([_uniform(gens[i]) for i in rows], dtype=torch.float64)
        u = u.to(cdf.device) * cdf[:, -1]
        pick = torch.searchsorted(cdf, u[:, None], right=True).clamp_max(kmax - 1)
        picked = ids.gather(1, pick)[:, 0]
        if idx is None:
            return picked
        out[idx] = picked
        return out

    def _pick_talker_tokens(self, streams: list[Stream], logits: torch.Tensor) -> list[int]:
        logits = logits.float()
        pen = torch.tensor([s.sampling.repetition_penalty for s in streams], device=logits.device)
        if bool((pen != 1.0).any()) and any(s.tokens for s in streams):
            seen = torch.stack([s.seen for s in streams])
            penalised = torch.where(logits < 0, logits * pen[:, None], logits / pen[:, None])
            logits = torch.where(seen & (pen[:, None] != 1.0), penalised, logits)
        no_eos = torch.tensor([len(s.tokens) < 2 or s.sampling.fixed_frames for s in streams], device=logits.device)
        logits[no_eos, self.eos] = -float("inf")
        logits = logits.masked_fill(self.suppress[None, :], -float("inf"))
        toks = self._sample(
            logits, [not s.sampling.do_sample for s in streams], [s.sampling.temperature for s in streams],
            [s.sampling.top_k for s in streams], [s.sampling.top_p for s in streams],
            [s.generator for s in streams]).tolist()
        for s, t in zip(streams, toks):
            s.tokens.append(t)
            s.seen[t] = True
        return toks

    # ---- generation ---------------------------------------------------------------------------
    def new_stream(self, sid: str, prompt: Prompt, sampling: Sampling, first_chunk_frames: int,
                   chunk_frames: int) -> Stream:
        gen = Uniforms(sampling.seed) if (sampling.do_sample or sampling.sub_do_sample) else None
        # the talker cannot attend past its position table: stop there at the latest
        room = int(self.talker.config.max_position_embeddings) - int(prompt.embeds.shape[0]) - 1
        sampling.max_frames = max(0, min(sampling.max_frames, room))
        return Stream(id=sid, prompt=prompt, sampling=sampling, first_chunk_frames=max(1, first_chunk_frames),
                      chunk_frames=max(1, chunk_frames), generator=gen,
                      seen=torch.zeros(self.vocab, dtype=torch.bool, device=self.device))

    @torch.no_grad()
    def prefill(self, streams: list[Stream]) -> None:
        """Append new streams to the talker batch (one forward for all) and pick their first tokens."""
        if not streams:
            return
        logits, hidden = self.backend.prefill([s.prompt.embeds for s in streams])
        toks = self._pick_talker_tokens(streams, logits)
        for i, (s, t) in enumerate(zip(streams, toks)):
            s.past_hidden = hidden[i]
            s.pending = t
            if s.sampling.max_frames <= 0 or t == self.eos:
                s.done = True

    class _CPCache:
        """Minimal KV cache for the code predictor (all rows share one length)."""

        def __init__(self, layers: int) -> None:
            self.k: list[torch.Tensor | None] = [None] * layers
            self.v: list[torch.Tensor | None] = [None] * layers

        def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
            if self.k[layer_idx] is None:
                self.k[layer_idx], self.v[layer_idx] = key_states, value_states
            else:
                self.k[layer_idx] = torch.cat([self.k[layer_idx], key_states], dim=2)
                self.v[layer_idx] = torch.cat([self.v[layer_idx], value_states], dim=2)
            return self.k[layer_idx], self.v[layer_idx]

    def _cp_rope(self, hidden: torch.Tensor):
        key = (hidden.dtype, hidden.device)
        cached = getattr(self, "_cp_rope_cache", None)
        if cached is None or cached[0] != key:
            pos = torch.arange(self.groups + 1, device=hidden.device).view(1, -1)
            cached = (key, self.cp.model.rotary_emb(hidden, pos))
            self._cp_rope_cache = cached
        return cached[1]

    def _cp_forward(self, x: torch.Tensor, cache, start: int) -> torch.Tensor:
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
        b = len(streams)
        tok0 = torch.tensor([s.pending for s in streams], device=self.device).view(b, 1)
        last_id_hidden = self.talker.get_input_embeddings()(tok0)  # (B, 1, D)
        past_hidden = torch.stack([s.past_hidden for s in streams]).view(b, 1, -1)
        greedy = [not s.sampling.sub_do_sample for s in streams]
        temps = [s.sampling.sub_temperature for s in streams]
        ks = [s.sampling.sub_top_k for s in streams]
        ps = [s.sampling.sub_top_p for s in streams]
        gens = [s.generator for s in streams]
        cp = self.cp
        emb = cp.model.get_input_embeddings()
        cache = self._CPCache(len(cp.model.layers))
        x = cp.small_to_mtp_projection(torch.cat((past_hidden, last_id_hidden), dim=1))
        h = self._cp_forward(x, cache, 0)
        codes = [tok0]
        for g in range(1, self.groups):
            logits = cp.lm_head[g - 1](h)
            tok = self._sample(logits, greedy, temps, ks, ps, gens).view(b, 1)
            codes.append(tok)
            if g == self.groups - 1:
                break
            x = cp.small_to_mtp_projection(emb[g - 1](tok))
            h = self._cp_forward(x, cache, g + 1)
        return torch.cat(codes, dim=1)

    def _next_embeds(self, streams: list[Stream], frames: torch.Tensor) -> torch.Tensor:
        b = frames.shape[0]
        embs = [self.talker.get_input_embeddings()(frames[:, :1])]
        cp_emb = self.cp.get_input_embeddings()
        for i in range(self.groups - 1):
            embs.append(cp_emb[i](frames[:, i + 1 : i + 2]))
        x = torch.cat(embs, dim=1).sum(1, keepdim=True)  # (B, 1, D)
        text = []
        for s in streams:
            tr = s.prompt.trailing
            text.append(tr[s.step] if s.step < tr.shape[0] else s.prompt.tts_pad)
        return (x + torch.stack(text).view(b, 1, -1))[:, 0]

    @torch.no_grad()
    def step(self, streams: list[Stream]) -> None:
        """One frame for every stream (all rows of the backend, in row order)."""
        live = [s for s in streams if not s.done]
        assert len(streams) == self.backend.rows
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
        logits, hidden = self.backend.decode(x)
        live = [i for i, s in enumerate(streams) if not s.done]
        toks = self._pick_talker_tokens([streams[i] for i in live], logits[live])
        for i, t in zip(live, toks):
            s = streams[i]
            s.step += 1
            s.past_hidden = hidden[i]
            s.pending = t
            if t == self.eos:
                s.done = True

    def ready_to_decode(self, s: Stream) -> int:
        """Frames of ``s`` to turn into audio now (0 = wait for more)."""
        todo = s.n_frames - s.emitted
        if todo <= 0:
            return 0
        need = s.first_chunk_frames if s.emitted == 0 else s.chunk_frames
        return todo if (todo >= need or s.done) else 0

    def _decoder_frames(self, codes: torch.Tensor) -> torch.Tensor:
        """Codec decoder up to its transformer: ``(B, T, 16)`` codes -> ``(B, C, T)`` frame features."""
        dec = self.decoder
        h = dec.quantizer.decode(codes.clamp_min(0).transpose(1, 2))
        h = dec.pre_conv(h).transpose(1, 2)
        return dec.pre_transformer(inputs_embeds=h).last_hidden_state.permute(0, 2, 1)

    def _decoder_waveform(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the codec decoder (upsampling convolutions): ``(B, C, T)`` -> ``(B, T * 1920)``."""
        dec = self.decoder
        for blocks in dec.upsample:
            for block in blocks:
                h = block(h)
        for block in dec.decoder:
            h = block(h)
        return h.clamp(min=-1, max=1)[:, 0]

    @torch.no_grad()
    def decode_audio(self, streams: list[Stream]) -> list[np.ndarray]:
        """Audio for the next frames of each stream, decoded together.

        The decoder is causal, so each chunk needs only left context: its transformer (at the frame
        rate, cheap) sees ``decode_context`` frames before the chunk, its upsampling convolutions
        (at up to 24 kHz, the expensive part, receptive field under 6 frames) only ``conv_context``.
        Rows are right-padded to one length, which causality makes harmless.
        """
        windows, starts, news = [], [], []
        for s in streams:
            hist = torch.stack(s.frames) if s.frames else torch.zeros(0, self.groups, dtype=torch.long)
            ref = s.prompt.ref_code
            if ref is not None:  # cloning: the reference codes are the voice's left context
                hist = torch.cat([ref.to(hist.device, hist.dtype), hist], dim=0)
            end = hist.shape[0]
            start = end - (s.n_frames - s.emitted)
            lo = max(0, start - self.decode_context)
            windows.append(hist[lo:end])
            starts.append(start - lo)
            news.append(end - start)
            s.emitted = s.n_frames
        b = len(windows)
        width = max(w.shape[0] for w in windows)
        codes = torch.zeros(b, width, self.groups, dtype=torch.long, device=self.device)
        for i, w in enumerate(windows):
            codes[i, : w.shape[0]] = w.to(self.device)
        feats = self._decoder_frames(codes)
        ctxs = [min(self.conv_context, st) for st in starts]
        conv_width = max(c + n for c, n in zip(ctxs, news))
        h = feats.new_zeros(b, feats.shape[1], conv_width)
        for i in range(b):
            lo = starts[i] - ctxs[i]
            h[i, :, : ctxs[i] + news[i]] = feats[i, :, lo : starts[i] + news[i]]
        wav = self._decoder_waveform(h)
        spf = self.samples_per_frame
        return [wav[i, ctxs[i] * spf : (ctxs[i] + news[i]) * spf].float().cpu().numpy().astype(np.float32, copy=False)
                for i in range(b)]

    def remove(self, streams: list[Stream], s: Stream) -> None:
        """Drop ``s`` from the talker batch, keeping ``streams`` in backend row order."""
        row = streams.index(s)
        moved = self.backend.remove(row)
        if moved is not None:
            streams[row] = streams[moved]
            streams.pop(moved)
        else:
            streams.pop(row)
