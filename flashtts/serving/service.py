"""The speech service: voices, planning and execution over one engine, one registry and one admission."""

from __future__ import annotations

import numpy as np

from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine
from flashtts.metrics import Metrics
from flashtts.serving.admission import Admission
from flashtts.serving.execution import Execution
from flashtts.serving.lifecycle import Lifecycle
from flashtts.serving.planning import Planning
from flashtts.serving.result_cache import ResultCache
from flashtts.serving.role_lexicon import RoleLexicons
from flashtts.serving.roles import RoleService
from flashtts.serving.sessions import LiveSessions
from flashtts.serving.voices import Voices
from flashtts.ssml import LexiconFile
from flashtts.voices.registry import SpeakerRegistry


class SpeechService(Execution, Planning, Voices):
    """What routes, the WebSocket and Wyoming call: :meth:`resolve_voice`, :meth:`plan`, :meth:`admit`,
    :meth:`samples`/:meth:`encoded`/:meth:`complete`, :meth:`finish`, and :attr:`roles`."""

    def __init__(self, config: ServerConfig, engine: Engine, registry: SpeakerRegistry, metrics: Metrics) -> None:
        self.config = config
        self.engine = engine
        self.registry = registry
        self.metrics = metrics
        self.admission = Admission(config.queue_limit, metrics, config.limits.max_streams_per_key)
        limits = config.limits
        self.sessions = LiveSessions(limits.max_live_sessions, limits.max_live_sessions_per_client, metrics,
                                     retry_after=limits.live_idle_timeout)
        """Open live sessions (WebSocket, Wyoming streams), bounded apart from :attr:`admission`."""
        self._audio_cache: dict[tuple[str, str], np.ndarray] = {}
        self.lifecycle = Lifecycle(self, ResultCache(int(config.result_cache_mb * 1024 * 1024)))
        """admit -> run -> encode -> release -> finish, once for every surface (and the result cache)."""
        self.lexicon_file = LexiconFile(config.lexicon) if config.lexicon else None
        """The server's pronunciation lexicon (``--lexicon``); a bad file stops the start."""
        self.roles = RoleService(self)
        """Role management, created once with the service."""
        self.role_lexicons = RoleLexicons(registry)
        """Roles' pronunciations."""
