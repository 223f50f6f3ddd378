"""The streaming TTS service's routes."""
