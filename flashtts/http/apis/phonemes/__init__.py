"""Phonemes: ``/v1/audio/phonemize`` and speech from phonemes."""
