"""Importing ``qwen_tts`` (the reference Qwen3-TTS model code) in a CPU-only torch environment.

``qwen_tts`` imports ``torchaudio.compliance.kaldi`` at package import (for its 25 Hz tokenizer,
which the 12 Hz checkpoints never use). The ``torchaudio`` wheel on PyPI ships compiled kernels
linked against CUDA builds of torch; beside the CPU build of torch their loading raises
``OSError``. Everything qwen_tts needs from torchaudio is pure Python on top of torch, so when the
compiled part cannot load we import torchaudio without it (exactly as if it had been installed
without its ``lib/*.so``). Where torchaudio loads natively (a matching CUDA torch), nothing changes.
"""

from __future__ import annotations

import os
import sys

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
        utils = sys.modules.get("torchaudio._extension.utils")
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
    return sys.modules["qwen_tts"]
