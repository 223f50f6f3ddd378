"""Kokoro-82M v1.0 on ONNX Runtime: every voice of its voice files, weighted voice mixes, word timings."""

from .engine import KokoroEngine

__all__ = ["KokoroEngine"]
