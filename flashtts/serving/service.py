"""The speech service: voices, planning and execution over one engine, one registry and one admission."""

from __future__ import annotations

from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine
from flashtts.metrics import Metrics
from flashtts.serving.admission import Admission
from flashtts.serving.execution import Execution
from flashtts.serving.lifecycle import Lifecycle
from flashtts.serving.markup import Markup
from flashtts.serving.planning import Planning
from flashtts.serving.result_cache import ResultCache
from flashtts.serving.role_lexicon import RoleLexicons
from flashtts.serving.roles import RoleService
from flashtts.serving.sessions import LiveSessions
from flashtts.serving.voices import Voices
from flashtts.ssml import LexiconFile
from flashtts.voices.registry import SpeakerRegistry


class SpeechService:
    """The serving layer, built once at start-up and composed of objects by job: :attr:`voices` (names,
    roles, clips), :attr:`planning` (every check, text cut into segments), :attr:`execution` (admission,
    the engine's audio, encoding, the request log), :attr:`lifecycle` (admit -> run -> release -> finish,
    once for every surface), :attr:`roles` (role management) and :attr:`sessions` (live sessions)."""

    def __init__(self, config: ServerConfig, engine: Engine, registry: SpeakerRegistry, metrics: Metrics) -> None:
        self.config = config
        self.engine = engine
        self.registry = registry
        self.metrics = metrics
        limits = config.limits
        self.admission = Admission(config.queue_limit, metrics, limits.max_streams_per_key)
        self.sessions = LiveSessions(limits.max_live_sessions, limits.max_live_sessions_per_client, metrics,
                                     retry_after=limits.live_idle_timeout)
        """Open live sessions (WebSocket, Wyoming streams), bounded apart from :attr:`admission`."""
        self.execution = Execution(config, engine, metrics, self.admission)
        self.voices = Voices(config, engine, registry, self.execution)
        self.markup = Markup(config, engine, self.voices, LexiconFile(config.lexicon) if config.lexicon else None)
        """SSML, inline forms and the pronunciation lexicons (``--lexicon``, roles', requests')."""
        self.planning = Planning(config, engine, self.markup)
        self.lifecycle = Lifecycle(self.execution, ResultCache(int(config.result_cache_mb * 1024 * 1024)))
        """admit -> run -> encode -> release -> finish, once for every surface (and the result cache)."""
        self.roles = RoleService(self.voices)
        """Role management, created once with the service."""
        self.role_lexicons = RoleLexicons(registry)
        """Roles' pronunciations."""
