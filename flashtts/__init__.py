"""flashtts: a self-hosted, batching text-to-speech server."""

__version__ = "0.1.0"
