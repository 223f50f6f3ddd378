"""The state every part of the speech service shares (typed once for the mixins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine
from flashtts.metrics import Metrics
from flashtts.serving.admission import Admission
from flashtts.voices.registry import SpeakerRegistry

if TYPE_CHECKING:
    from flashtts.serving.admission import Ticket


class ServiceState:
    """Attributes of :class:`~flashtts.serving.service.SpeechService` that its parts use."""

    config: ServerConfig
    engine: Engine
    registry: SpeakerRegistry
    metrics: Metrics
    admission: Admission
    _audio_cache: dict[tuple[str, str], np.ndarray]

    if TYPE_CHECKING:
        def admit(self, client: str | None, *, count: bool = True) -> Ticket:
            """A slot for one request (the execution part implements it)."""
            ...
