"""One loaded Qwen3-TTS checkpoint: prompts, clone prompts, streams and codec decoding, for every generation.

Prompts are built by the reference package's own code (``Qwen3TTSModel.generate_*`` up to the
point where it would start its talker loop), so every kind and mode (preset speaker, dialects,
instructions, voice design, x-vector and in-context voice cloning) is formatted exactly as upstream.
Codec decoding runs batched across streams on windows with left context. How frames are generated
is the generation's business (:mod:`.generation`: the torch decode loop or the vLLM talker).

Everything here runs on the engine's model thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .frame import FrameKernel
from .sampling import Sampling, Uniforms

LANGUAGE_ALIASES = {
    "zh": "chinese", "en": "english", "de": "german", "it": "italian", "pt": "portuguese", "es": "spanish",
    "ja": "japanese", "ko": "korean", "fr": "french", "ru": "russian",
}


@dataclass
class Prompt:
    embeds: torch.Tensor  # (T, D) talker input for prefill
    trailing: torch.Tensor  # (N, D) text embeddings added to the following steps
    tts_pad: torch.Tensor  # (D,) added once the trailing text is used up
    ref_code: torch.Tensor | None = None  # (R, 16) reference codes (in-context cloning): decoder left context


@dataclass
class Stream:
    """One request's generation state."""

    id: str
    prompt: Prompt
    sampling: Sampling
    first_chunk_frames: int = 4
    chunk_frames: int = 12
    randoms: Uniforms | None = None  # the stream's own random numbers (None when greedy)
    tokens: list[int] = field(default_factory=list)  # codebook-0 tokens generated (talker outputs)
    frames: list[torch.Tensor] = field(default_factory=list)  # (16,) codes per finished frame
    pending: int | None = None  # codebook-0 token waiting for its 15 sub-codes
    past_hidden: torch.Tensor | None = None  # (D,) talker hidden that produced ``pending``
    step: int = 0  # talker decode steps done (index into trailing text)
    emitted: int = 0  # frames already decoded to audio
    done: bool = False
    seen: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    """(V,) bool: tokens generated, for the repetition penalty."""
    frame_cap: int | None = None
    """The runaway guard's cap from the text (:mod:`.runaway`), when it is below the request's own limit."""

    @property
    def n_frames(self) -> int:
        return len(self.frames)


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

    def __init__(self, model_path: str, device: str = "cpu", dtype: str = "auto", decode_context: int = 72,
                 conv_context: int = 8, threads: int | None = None, attn: str | None = None) -> None:
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
        loading = {"attn_implementation": attn} if attn else {}
        self.tts = qwen_tts.Qwen3TTSModel.from_pretrained(str(self.path), dtype=torch_dtype, device_map=device,
                                                          **loading)
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
        self.frame = FrameKernel(self.cp, self.talker.get_input_embeddings(), self.groups, self.eos, self.suppress)
        """The per-frame math every decode loop shares (:mod:`.frame`)."""
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
        return self.kind == "custom_voice" and self.model_size != "0b6"

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

    # ---- generation ---------------------------------------------------------------------------
    def new_stream(self, sid: str, prompt: Prompt, sampling: Sampling, first_chunk_frames: int,
                   chunk_frames: int) -> Stream:
        """A request's generation state (the prompt, its sampling, its own random numbers)."""
        randoms = Uniforms(sampling.seed) if sampling.samples else None
        # the talker cannot attend past its position table: stop there at the latest
        room = int(self.talker.config.max_position_embeddings) - int(prompt.embeds.shape[0]) - 1
        sampling = dataclasses.replace(sampling, max_frames=max(0, min(sampling.max_frames, room)))
        return Stream(id=sid, prompt=prompt, sampling=sampling, first_chunk_frames=max(1, first_chunk_frames),
                      chunk_frames=max(1, chunk_frames), randoms=randoms,
                      seen=torch.zeros(self.vocab, dtype=torch.bool, device=self.device))

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
        conv_width = max(c + n for c, n in zip(ctxs, news, strict=True))
        h = feats.new_zeros(b, feats.shape[1], conv_width)
        for i in range(b):
            lo = starts[i] - ctxs[i]
            h[i, :, : ctxs[i] + news[i]] = feats[i, :, lo : starts[i] + news[i]]
        wav = self._decoder_waveform(h)
        spf = self.samples_per_frame
        return [wav[i, ctxs[i] * spf : (ctxs[i] + news[i]) * spf].float().cpu().numpy().astype(np.float32, copy=False)
                for i in range(b)]
