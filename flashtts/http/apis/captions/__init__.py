"""``/v1/audio/speech/captioned``: a complete file with its word timings."""
