"""What the serving layer passes around: a resolved voice, an utterance, a checked plan."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from flashtts import audio
from flashtts.engine import ReferenceAudio, SynthesisRequest, WordTiming
from flashtts.ssml import Entry, WordSlot

Disconnected = Callable[[], Awaitable[bool]]
"""Asks whether the client has gone (a request's ``is_disconnected``)."""


def new_request_id() -> str:
    """A fresh request id: 16 hex digits."""
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Caller:
    """Who asks, passed in by the edge (HTTP, WebSocket, Wyoming, the CLI): the serving layer never reads it
    from a web framework."""

    request_id: str | None = None
    """The edge's id of the request (HTTP: ``X-Request-Id``); None: the plan gets a fresh one."""
    client: str | None = None
    """Who it is for the per-client limits and the log: ``key:<hash>`` with an API key, else ``addr:<ip>``."""


@dataclass(frozen=True)
class VoiceChoice:
    """A voice resolved to what the engine needs."""

    label: str
    voice: str | None = None
    reference: ReferenceAudio | None = None
    instructions: str | None = None
    speed: float | None = None
    language: str | None = None
    mix: tuple[tuple[str, float], ...] = ()
    """A blend of built-in voices (weights summing to one); ``voice`` is then its first voice."""
    lexicon: tuple[Entry, ...] = ()
    """A role's pronunciations."""


@dataclass(frozen=True)
class Utterance:
    """What to say in which voice, with the request's own overrides."""

    text: str
    voice: VoiceChoice
    instructions: str | None = None
    speed: float | None = None
    pitch: float | None = None
    language: str | None = None
    phonemes: bool = False
    """``text`` is phonemes in IPA, said as written (engines with the ``phonemes`` capability)."""


@dataclass
class Plan:
    """A request checked and cut into engine segments, ready to run."""

    request_id: str
    route: str
    segments: list[SynthesisRequest]
    response_format: str
    speed: float
    pitch: float
    voice_label: str
    characters: int
    started: float = field(default_factory=time.monotonic)
    audio_seconds: float = 0.0
    ttfa: float | None = None
    status: str = "ok"
    out_rate: int = audio.OUTPUT_RATE
    """Sample rate of the encoded answer (24 kHz unless a compatibility API wants another)."""
    words: list[WordTiming] = field(default_factory=list)
    """Word timings heard so far, on the plan's audio timeline (when its segments ask for timestamps)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (``X-Instructions-Ignored``, ``X-SSML-Ignored``)."""
    client: str | None = None
    """The caller's client (:class:`Caller`), whose slot the plan takes when admitted."""
    pause_after: float = 0.0
    """Seconds of silence after the last segment (a document that ends with a ``<break>``)."""
    word_slots: dict[str, tuple[WordSlot, ...]] = field(default_factory=dict)
    """Segments (by request id) whose word timings are relabelled: a respelling said, its written word shown."""
