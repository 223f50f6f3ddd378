"""Importing ``qwen_tts`` (the reference Qwen3-TTS model code) in a CPU-only torch environment.

``qwen_tts`` imports ``torchaudio.compliance.kaldi`` at package import (for its 25 Hz tokenizer,
which the 12 Hz checkpoints never use). The ``torchaudio`` wheel on PyPI ships compiled kernels
linked against CUDA builds of torch; beside the CPU build of torch their loading raises
``OSError``. Everything qwen_tts needs from torchaudio is pure Python on top of torch, so when the
compiled part cannot load we import torchaudio without it (exactly as if it had been installed
without its ``lib/*.so``). Where torchaudio loads natively (a matching CUDA torch), nothing changes.

Under transformers 5 (the vLLM environment, with ``qwen-tts-hf``: the same ``qwen_tts`` module built
for transformers 5), two more things differ, and the checkpoint format must stay the published one:

* transformers 5 keeps rope settings in ``config.rope_parameters``; qwen-tts-hf registers a
  ``"default"`` rope initialiser that reads ``config.rope_theta``, which the codec's Mimi encoder
  config no longer has. :func:`patch_rope_defaults` makes that initialiser read either.
* ``save_pretrained`` fails on qwen_tts's list-style ``_tied_weights_keys`` and writes configs in
  the 5.x layout: :func:`save_model` writes the weights and a published-layout ``config.json``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_TORCHAUDIO_MODE: str | None = None


def ensure_torchaudio() -> str:
    """Make ``import torchaudio`` work; returns ``"native"`` or ``"python-only"``."""
    global _TORCHAUDIO_MODE
    if _TORCHAUDIO_MODE is not None:
        return _TORCHAUDIO_MODE
    try:
        import torchaudio  # noqa: F401

        _TORCHAUDIO_MODE = "native"
    except OSError:
        utils: Any = sys.modules.get("torchaudio._extension.utils")
        if utils is None:  # pragma: no cover - a torchaudio layout we do not know
            raise
        utils._load_lib = lambda lib: False  # the compiled kernels are optional for what we use
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            if name != "torchaudio._extension.utils" and not name.startswith("torchaudio._internal"):
                sys.modules.pop(name, None)
        import torchaudio  # noqa: F401,F811

        _TORCHAUDIO_MODE = "python-only"
    return _TORCHAUDIO_MODE


def import_qwen_tts():
    """Import and return the ``qwen_tts`` package (offline, quiet)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    ensure_torchaudio()
    import contextlib
    import io
    import logging

    # the `sox` package (imported for the 25 Hz tokenizer only) warns when the SoX binary is absent
    logging.getLogger("sox").setLevel(logging.ERROR)

    # qwen_tts prints banners about flash-attn and SoX at import; keep server logs clean
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import qwen_tts  # noqa: F401
    if transformers_major() >= 5:
        patch_rope_defaults()
    return sys.modules["qwen_tts"]


def transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


_ROPE_PATCHED = False


def patch_rope_defaults() -> None:
    """transformers 5: the ``"default"`` rope initialiser also takes configs that keep ``rope_parameters``."""
    global _ROPE_PATCHED
    if _ROPE_PATCHED:
        return
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    previous: Any = ROPE_INIT_FUNCTIONS.get("default")

    def default_rope(config, device=None, seq_len=None, layer_type=None):
        if previous is not None and getattr(config, "rope_theta", None) is not None:
            return previous(config, device, seq_len, layer_type)
        params = dict(getattr(config, "rope_parameters", None) or {})
        if layer_type is not None and isinstance(params.get(layer_type), dict):
            params = params[layer_type]
        base = float(params["rope_theta"])
        factor = float(params.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", 1.0) or 1.0))
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        dim = int(head_dim * factor)
        exps = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim
        return 1.0 / (base**exps), 1.0

    ROPE_INIT_FUNCTIONS["default"] = default_rope
    _ROPE_PATCHED = True


def published_config(cfg: dict) -> dict:
    """A config dict in the published key layout (transformers 5 writes ``rope_parameters``)."""
    import copy

    cfg = copy.deepcopy(cfg)
    cfg.get("speaker_encoder_config", {}).pop("model_type", None)
    talker = cfg.get("talker_config", {})
    subs = [talker, talker.get("code_predictor_config", {}), cfg.get("encoder_config", {}),
            cfg.get("decoder_config", {})]
    for sub in subs:
        params = sub.pop("rope_parameters", None)
        if params and "rope_scaling" not in sub and "mrope_section" in params:
            sub["rope_scaling"] = {k: v for k, v in params.items() if k != "rope_theta"}
        if params and "rope_theta" in params:
            sub.setdefault("rope_theta", params["rope_theta"])
    return cfg


def save_model(model, out) -> None:
    """``model.save_pretrained(out)``; under transformers 5 the same files, written directly."""
    import json
    from pathlib import Path

    if transformers_major() < 5:
        model.save_pretrained(out)
        return
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    cfg = published_config(model.config.to_dict())
    cfg.pop("transformers_version", None)
    if not cfg.get("architectures"):
        cfg["architectures"] = [type(model).__name__]
    if cfg.get("dtype") is None:
        cfg["dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
    (out / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
