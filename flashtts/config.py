"""Server settings: one dataclass, filled by the CLI (or by tests) and read by the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flashtts.engine import EngineConfig


@dataclass
class Limits:
    """Input limits; each is a ``flashtts serve`` option."""

    max_text_chars: int = 4096
    """Longest ``input``/``text`` accepted (OpenAI's limit)."""
    max_upload_bytes: int = 10 * 1024 * 1024
    """Largest reference-audio upload (OpenAI's 10 MiB)."""
    min_reference_seconds: float = 1.0
    max_reference_seconds: float = 60.0


@dataclass
class ServerConfig:
    engine: str = "piper"
    engine_config: EngineConfig = field(default_factory=EngineConfig)
    role_dir: Path = Path("roles")
    api_keys: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    queue_limit: int = 64
    """Requests admitted at once (waiting or synthesising); beyond it the server answers 429."""
    request_timeout: float = 300.0
    """Seconds a request may take from admission to its last byte."""
    length_threshold: int = 50
    """Texts longer than this many characters are split into segments (FlashTTS's name)."""
    window_size: int = 50
    """Target segment length when splitting (FlashTTS's name)."""
    limits: Limits = field(default_factory=Limits)
    web_dir: Path | None = None
    """Directory of the browser UI; None means the one shipped with flashtts."""
    log_level: str = "info"
