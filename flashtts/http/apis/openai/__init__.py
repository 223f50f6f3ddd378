"""OpenAI's audio API: ``/v1/audio/speech``, models and voices (routes, pydantic protocol)."""
