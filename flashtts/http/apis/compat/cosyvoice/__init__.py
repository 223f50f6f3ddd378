"""CosyVoice's FastAPI server (``/inference_<mode>``)."""
