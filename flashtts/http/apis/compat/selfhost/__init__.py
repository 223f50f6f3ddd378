"""The self-hosting TTS API (``/api/tts/...``)."""
