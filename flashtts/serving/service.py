"""The speech service: voices, planning and execution over one engine, one registry and one admission."""

from __future__ import annotations

import numpy as np

from flashtts.config import ServerConfig
from flashtts.engine import Engine
from flashtts.metrics import Metrics
from flashtts.registry import SpeakerRegistry
from flashtts.scheduler import Admission
from flashtts.scheduler.sessions import LiveSessions
from flashtts.serving.execution import Execution
from flashtts.serving.planning import Planning
from flashtts.serving.role_lexicon import RoleLexicons
from flashtts.serving.roles import RoleService
from flashtts.serving.voices import Voices
from flashtts.ssml import LexiconFile


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
        self.lexicon_file = LexiconFile(config.lexicon) if config.lexicon else None
        """The server's pronunciation lexicon (``--lexicon``); a bad file stops the start."""
        self.roles = RoleService(self)
        self.role_lexicons = RoleLexicons(registry)
        """Roles' pronunciations."""
        """Role management, created once with the service."""
