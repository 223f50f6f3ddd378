"""One loaded Qwen3-TTS checkpoint: prompts, clone prompts, streams and codec decoding, for every generation.

Prompts are built by the reference package's own code (``Qwen3TTSModel.generate_*`` up to the
point where it would start its talker loop), so every kind and mode (preset speaker, dialects,
instructions, voice design, x-vector and in-context voice cloning) is formatted exactly as upstream.
Codec decoding is streamed (:mod:`.codec_stream`): each chunk decoded once after the state its
stream's causal decoder carries, batched across streams. How frames are generated
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

from flashtts.text.languages import codes_of, spelled_as

from .codec_stream import CodecState, CodecStream
from .frame import FrameKernel
from .sampling import Sampling, Uniforms


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
    grow_chunks: bool = False
    """Chunks after the first double in size up to ``chunk_frames`` (1, 2, 4, 8, 8, ...)."""
    chunks: int = 0  # audio chunks decoded so far
    codec: CodecState | None = None  # the codec decoder's state after the decoded frames
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
        self.codec = CodecStream(self.decoder)
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
        return langs + codes_of(langs)  # "chinese" answers to "zh" too

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
        lang = "auto"
        if language:  # "zh" -> "chinese": the name the reference package knows
            lang = (spelled_as(language, self.model.get_supported_languages()) or language).lower()
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
                   chunk_frames: int, grow_chunks: bool = False) -> Stream:
        """A request's generation state (the prompt, its sampling, its own random numbers)."""
        randoms = Uniforms(sampling.seed) if sampling.samples else None
        # the talker cannot attend past its position table: stop there at the latest
        room = int(self.talker.config.max_position_embeddings) - int(prompt.embeds.shape[0]) - 1
        sampling = dataclasses.replace(sampling, max_frames=max(0, min(sampling.max_frames, room)))
        return Stream(id=sid, prompt=prompt, sampling=sampling, first_chunk_frames=max(1, first_chunk_frames),
                      chunk_frames=max(1, chunk_frames), grow_chunks=grow_chunks, randoms=randoms,
                      seen=torch.zeros(self.vocab, dtype=torch.bool, device=self.device))

    def ready_to_decode(self, s: Stream) -> int:
        """Frames of ``s`` to turn into audio now (0 = wait for more)."""
        todo = s.n_frames - s.emitted
        if todo <= 0:
            return 0
        if s.emitted == 0:
            need = s.first_chunk_frames
        elif s.grow_chunks:
            need = min(s.chunk_frames, s.first_chunk_frames << min(s.chunks, 16))
        else:
            need = s.chunk_frames
        return todo if (todo >= need or s.done) else 0

    @torch.no_grad()
    def decode_audio(self, streams: list[Stream]) -> list[np.ndarray]:
        """Audio for the next frames of each stream, decoded together, each after its own decoder state.

        A cloned voice's stream first primes its state with the last ``decode_context`` reference
        codes (the last ``conv_context`` of them through the upsampling convolutions, whose
        receptive field is under 6 frames), as the reference decodes reference and new codes together.
        """
        codes, states, due = [], [], []
        for s in streams:
            if s.n_frames <= s.emitted:
                continue
            due.append(s)
            if s.codec is None:
                s.codec = CodecState()
                ref = s.prompt.ref_code
                if ref is not None and self.decode_context > 0:
                    self.codec.prime(ref[-self.decode_context:], s.codec, self.conv_context)
            codes.append(torch.stack(s.frames[s.emitted:]))
            states.append(s.codec)
            s.emitted = s.n_frames
            s.chunks += 1
        wavs = iter(self.codec.decode(codes, states) if codes else [])
        return [next(wavs).float().cpu().numpy().astype(np.float32, copy=False) if s in due
                else np.zeros(0, dtype=np.float32) for s in streams]
