"""Qwen3-TTS FastAPI's routes."""
