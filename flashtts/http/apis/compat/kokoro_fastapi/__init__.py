"""Kokoro-FastAPI's phoneme routes (``/dev/phonemize``, ``/dev/generate_from_phonemes``)."""
