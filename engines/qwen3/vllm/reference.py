"""The reference Qwen3-TTS talker (``qwen_tts``) loaded without ``from_pretrained``, for parity checks.

Under transformers 5 (the vLLM environment), ``Qwen3TTSModel.from_pretrained`` fails while it
builds the speech tokenizer (its Mimi encoder reads ``rope_theta``), and ``save_pretrained``
fails on the list-style ``_tied_weights_keys``. The talker does not need either: this module
builds ``Qwen3TTSForConditionalGeneration`` from ``config.json`` and loads ``model.safetensors``
directly, and can write small random-weight checkpoints (talker + text tokenizer only) whose
attention heads are wide enough for vLLM's CPU attention (head size >= 32).

``talker_inputs`` captures what the reference ``generate`` hands to ``talker.generate`` (prompt
embeddings, trailing text embeddings, the pad embedding): the exact prefill a backend must run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def published_layout(cfg: dict[str, Any]) -> dict[str, Any]:
    """Config dict in the published key layout (transformers 5 writes ``rope_parameters``)."""
    from .._compat import published_config

    return published_config(cfg)


def _qwen_tts():
    from .._compat import import_qwen_tts

    return import_qwen_tts()


def make_tiny_talker_checkpoint(kind: str, out: Path | str, *, seed: int = 0) -> Path:
    """Write a random-weight talker checkpoint (config, weights, text tokenizer; no codec) into ``out``."""
    _qwen_tts()
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration, Qwen3TTSProcessor
    from safetensors.torch import save_file

    from .. import checkpoint as ck

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = ck._tiny_text_tokenizer()
    config = ck._tts_config(tok, kind, "tiny", wide_heads=True)
    torch.manual_seed(seed)
    model = Qwen3TTSForConditionalGeneration(config).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    cfg = published_layout(config.to_dict())
    (out / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
    Qwen3TTSProcessor(tokenizer=tok).save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps(ck.GENERATE_CONFIG, indent=2))
    return out


class ReferenceTalker:
    """``Qwen3TTSForConditionalGeneration`` + processor from a checkpoint directory (no speech tokenizer)."""

    def __init__(self, path: Path | str) -> None:
        _qwen_tts()
        from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration, Qwen3TTSProcessor
        from safetensors.torch import load_file

        path = Path(path)
        config = Qwen3TTSConfig(**published_layout(json.loads((path / "config.json").read_text())))
        self.model = Qwen3TTSForConditionalGeneration(config).eval()
        missing, unexpected = self.model.load_state_dict(load_file(str(path / "model.safetensors")), strict=False)
        if unexpected or [m for m in missing if not m.startswith("speaker_encoder.")]:
            raise RuntimeError(f"checkpoint mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
        self.processor = Qwen3TTSProcessor.from_pretrained(str(path))
        self.config = config

    def _ids(self, text: str) -> torch.Tensor:
        ids = self.processor(text=text, return_tensors="pt", padding=True)["input_ids"]
        return ids.unsqueeze(0) if ids.dim() == 1 else ids

    def _kwargs(self, text: str, speaker: str | None, instructions: str | None, language: str) -> dict[str, Any]:
        instruct = self._ids(f"<|im_start|>user\n{instructions}<|im_end|>\n") if instructions else None
        return dict(input_ids=[self._ids(f"<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n")],
                    instruct_ids=[instruct], languages=[language], speakers=[speaker], non_streaming_mode=False)

    @torch.no_grad()
    def talker_inputs(self, text: str, speaker: str | None = None, instructions: str | None = None,
                      language: str = "auto") -> dict[str, torch.Tensor]:
        """The prefill embeddings ``(T, D)``, trailing text embeddings ``(N, D)`` and pad embedding ``(D,)``."""
        seen: dict[str, torch.Tensor] = {}

        class _Stop(Exception):
            pass

        def capture(**kw):
            mask = kw["attention_mask"][0].bool()
            seen["prompt"] = kw["inputs_embeds"][0][mask].clone()
            seen["trailing"] = kw["trailing_text_hidden"][0].clone()
            seen["pad"] = kw["tts_pad_embed"].reshape(-1).clone()
            raise _Stop

        talker = self.model.talker
        talker.generate = capture  # instance attribute: only this reference model is affected
        try:
            self.model.generate(**self._kwargs(text, speaker, instructions, language))
        except _Stop:
            pass
        finally:
            del talker.generate
        return seen

    @torch.no_grad()
    def greedy_codes(self, text: str, speaker: str | None = None, instructions: str | None = None,
                     language: str = "auto", max_new_tokens: int = 32) -> torch.Tensor:
        """The reference's own greedy decode: codec frames ``(frames, 16)``."""
        codes, _ = self.model.generate(**self._kwargs(text, speaker, instructions, language),
                                       max_new_tokens=max_new_tokens, do_sample=False, subtalker_dosample=False,
                                       repetition_penalty=1.0)
        return codes[0]
