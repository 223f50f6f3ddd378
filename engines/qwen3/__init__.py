"""Qwen3-TTS 12 Hz engine (CustomVoice / VoiceDesign / Base) with continuous batching."""

from .engine import Qwen3Engine, detect_kind

__all__ = ["Qwen3Engine", "detect_kind"]
