"""Server settings: one dataclass, filled by the CLI (or by tests) and read by the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flashtts.engine import EngineConfig

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
"""Host names of this machine, and the binds that listen on every interface."""


def default_allowed_hosts(bind: str) -> tuple[str, ...]:
    """Loopback names and the bind address; every host (``*``) when bound to all interfaces."""
    if bind in WILDCARD_BINDS:
        return ("*",)
    return tuple(dict.fromkeys([*LOOPBACK_NAMES, bind.strip("[]").lower()]))


@dataclass
class Limits:
    """Input limits; each is a ``flashtts serve`` option."""

    max_text_chars: int = 4096
    """Longest ``input``/``text`` accepted (OpenAI's limit)."""
    max_upload_bytes: int = 10 * 1024 * 1024
    """Largest reference-audio upload (OpenAI's 10 MiB)."""
    min_reference_seconds: float = 1.0
    max_reference_seconds: float = 60.0
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body of any route (a 10 MiB clip sent base64 in a form is about 13.4 MiB)."""
    max_streams_per_key: int = 0
    """Synthesis requests one client (its API key, else its address) may have open at once,
    draining ones included; 0 means no per-client limit."""
    send_timeout: float = 60.0
    """Seconds one response write may wait for a client that stopped reading; then the response ends."""
    stream_buffer_bytes: int = 16 * 1024 * 1024
    """Encoded audio one stream may hold for a slow reader; a stream whose audio is all generated
    into it frees its admission slot while the client drains it."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a request's headers (slowloris); then it is closed."""
    idle_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open."""
    max_live_sessions: int = 256
    """Live sessions (WebSocket text-in sockets, Wyoming streams) open at once; 0: no limit."""
    max_live_sessions_per_client: int = 16
    """Live sessions one client (its API key, else its address) may have open at once; 0: no limit."""
    live_idle_timeout: float = 20.0
    """Seconds a live session may wait with no text before it ends with ``idle_timeout``."""


@dataclass
class AudioURLPolicy:
    """Reference audio given as a URL: off unless enabled, then only to allowed hosts."""

    enabled: bool = False
    hosts: tuple[str, ...] = ()
    """Host names (or IP literals) a URL may name; ``*.example.com`` matches subdomains; empty means none."""
    allow_private: bool = False
    """Allow hosts that resolve to loopback, private, link-local or reserved addresses."""
    timeout: float = 10.0
    """Seconds for the whole download (connect, redirects and body)."""
    max_redirects: int = 3


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
    audio_urls: AudioURLPolicy = field(default_factory=AudioURLPolicy)
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names the server answers to (``*`` any, ``*.example.com`` subdomains); empty means the
    loopback names and ``host`` (any host when ``host`` is a wildcard address)."""
    cors_origins: tuple[str, ...] = ()
    """Origins (``https://app.example``) whose browser pages may call the API (CORS); others get 403."""
    web_dir: Path | None = None
    """Directory of the browser UI; None means the one shipped with flashtts."""
    log_level: str = "info"
    compat: tuple[str, ...] | None = None
    """Compatibility route groups to mount (``flashtts.http.apis.compat.GROUPS``); None mounts them all."""
    result_cache_mb: float = 0.0
    """Size of the result cache of the compatibility routes' complete-file answers (0 = off)."""
    gpu: tuple[int, ...] = ()
    """CUDA devices to run engines on (``--gpu 0,1``): one engine replica per device at least."""
    workers: int = 1
    """Engine replicas (``--workers N``), spread round-robin over ``gpu``; requests go to the least busy."""
    strict_instructions: bool = False
    """Refuse (400) ``instructions`` the engine cannot follow instead of ignoring them with a header."""
    open_listings: bool = False
    """Serve ``GET /v1/models``, ``/v1/audio/models`` and ``/v1/audio/voices`` without an API key."""
    wyoming_port: int | None = None
    """Serve Home Assistant's Wyoming protocol on this TCP port too (``--wyoming_port``); None: off."""
    wyoming_host: str | None = None
    """Address of the Wyoming listener; None: the same as ``host``."""
    shutdown_grace: float = 30.0
    """Seconds in-flight streams may run on after SIGTERM while new requests get 503; then they are aborted."""
    lexicon: Path | None = None
    """Pronunciation lexicon file (``--lexicon``, docs/ssml.md), read at start and again when it changes."""
    idle_unload: float = 0.0
    """Free the engine's weights after this many seconds without a request (0: never); reload on demand."""

    def effective_allowed_hosts(self) -> tuple[str, ...]:
        return self.allowed_hosts or default_allowed_hosts(self.host)


@dataclass(frozen=True)
class RaySettings:
    replicas: int = 2
    """Replicas to start (the minimum when autoscaling)."""
    max_replicas: int | None = None
    """Autoscale up to this many replicas on load (None: fixed ``replicas``)."""
    max_ongoing_requests: int = 16
    """Requests one replica serves at once; the proxy queues or routes the rest elsewhere."""
    max_queued_requests: int = 64
    """Requests waiting for a replica across the deployment; beyond it the proxy answers 503."""
    num_cpus: float = 1.0
    """CPUs Ray reserves per replica."""
    num_gpus: float = 0.0
    """GPUs per replica (1 for one replica per GPU)."""
    address: str | None = None
    """An existing Ray cluster (``ray://`` or ``auto``); None starts a local instance on loopback."""
    graceful_shutdown_timeout_s: float = 30.0
    """Seconds a stopping replica lets its requests in flight finish (``--shutdown_grace``)."""
