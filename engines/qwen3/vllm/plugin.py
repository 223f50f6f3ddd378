"""vLLM plugin entry point (``vllm.general_plugins``): registers the talker architecture.

vLLM loads general plugins in every process it starts (engine core, workers), so the
out-of-tree model is known wherever the model is built, whatever the process start method.
"""

from __future__ import annotations

ARCHITECTURE = "FlashTTSQwen3Talker"


def register() -> None:
    from vllm import ModelRegistry

    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        # a "module:Class" string: the model module (and qwen_tts) load lazily, in the worker
        ModelRegistry.register_model(ARCHITECTURE, "flashtts_engines.qwen3.vllm.model:FlashTTSQwen3Talker")
