"""The engine interface: what every TTS engine implements and what the server knows of it.

An engine turns one :class:`SynthesisRequest` into an async stream of float32 mono audio
chunks at :attr:`EngineInfo.sample_rate`. Engines are found by name through the
``flashtts.engines`` entry-point group (see :mod:`flashtts.engine.registry`); nothing outside
the registry branches on an engine's name.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from flashtts.metrics import Metrics


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling options of one request; ``None`` means the engine's own default."""

    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None

    def merged(self, defaults: GenerationOptions) -> GenerationOptions:
        """These options with every ``None`` filled from ``defaults``."""
        return replace(
            self,
            **{k: getattr(defaults, k) for k in self.__dataclass_fields__ if getattr(self, k) is None},
        )


@dataclass(frozen=True)
class ReferenceAudio:
    """A voice to clone: mono float32 samples, their transcript, and where a prompt may be cached."""

    samples: np.ndarray
    sample_rate: int
    text: str | None = None
    cache_key: str | None = None
    """Stable identity of this clip (role name + content hash); engines key clone-prompt caches on it."""
    cache_dir: Path | None = None
    """A directory the engine may write its computed clone prompt into (the role's folder)."""

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class Piece:
    """A run of a segment's text, or a pronunciation in IPA said in its place (engines with ``phonemes``)."""

    text: str
    ipa: str | None = None


@dataclass
class SynthesisRequest:
    """One unit of synthesis handed to an engine (one text segment in one voice)."""

    request_id: str
    text: str
    voice: str | None = None
    reference: ReferenceAudio | None = None
    instructions: str | None = None
    language: str = "auto"
    speed: float = 1.0
    options: GenerationOptions = field(default_factory=GenerationOptions)
    stream: bool = False
    """True when the client is listening live: engines may emit a small first chunk."""
    opening: bool = True
    """The segment opens its answer (nothing of the request is heard before it): with ``stream``, the
    place where a small first chunk shortens the wait for the first audio."""
    timestamps: bool = False
    """The client wants word timings: the engine (with the ``timestamps`` capability) yields :class:`TimedChunk`."""
    mix: tuple[tuple[str, float], ...] = ()
    """A blend of built-in voices (``voice_mixing`` engines): (voice, weight) pairs, weights summing to 1;
    ``voice`` is then the first of them."""
    pieces: tuple[Piece, ...] = ()
    """``text`` cut where IPA pronunciations replace words (only for engines with the ``phonemes``
    capability; empty: say ``text``)."""
    pause_before: float = 0.0
    """Seconds of silence the server puts before this segment's audio (an SSML ``<break>``)."""
    gain: float = 1.0
    """Amplitude factor the server applies to this segment (``<prosody volume>``)."""
    pitch: float = 1.0
    """Frequency factor the server applies to this segment (``<prosody pitch>``, times the request's)."""


@dataclass(frozen=True)
class WordTiming:
    """One spoken word and when it is heard, in seconds from the start of its request's audio."""

    word: str
    start: float
    end: float

    def shifted(self, offset: float, scale: float = 1.0) -> WordTiming:
        """The same word on a later timeline: times scaled by ``scale``, then moved by ``offset`` seconds."""
        return WordTiming(self.word, offset + self.start * scale, offset + self.end * scale)

    def as_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)}


@dataclass(frozen=True)
class TimedChunk:
    """An audio chunk with the words whose timings it completes (yielded when ``request.timestamps``)."""

    audio: np.ndarray
    words: tuple[WordTiming, ...] = ()


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    description: str = ""
    language: str | None = None
    locale: str | None = None
    """Language with region where the engine tells it (``en_GB``); Wyoming's ``describe`` shows it."""


@dataclass(frozen=True)
class Capabilities:
    clone: bool = False
    """Clones a voice from reference audio (+ its transcript)."""
    instruct: bool = False
    """Follows free-text style instructions for a preset voice."""
    voice_design: bool = False
    """Creates a voice from a free-text description in ``instructions``."""
    streaming: bool = True
    """Emits audio before the whole utterance is synthesised."""
    speed: bool = False
    """Honours ``speed`` natively; otherwise the server time-stretches the audio."""
    timestamps: bool = False
    """Reports when each word is spoken (``SynthesisRequest.timestamps`` -> :class:`TimedChunk`)."""
    voice_mixing: bool = False
    """Blends built-in voices by weight (``SynthesisRequest.mix``, asked as ``af_bella(2)+af_sky(1)``)."""
    phonemes: bool = False
    """Speaks pronunciations given in IPA (``SynthesisRequest.pieces``) and answers :meth:`Engine.phonemize`."""

    def names(self) -> list[str]:
        return [k for k in self.__dataclass_fields__ if getattr(self, k)]

    @property
    def follows_instructions(self) -> bool:
        """Free-text ``instructions`` mean something: a style (``instruct``) or a voice (``voice_design``)."""
        return self.instruct or self.voice_design

    def has(self, need: str) -> bool:
        """Whether a request needing ``need`` (a key of :data:`CANNOT`) can be served."""
        return self.follows_instructions if need == "instructions" else bool(getattr(self, need))



@dataclass(frozen=True)
class EngineInfo:
    """What a loaded engine serves."""

    name: str
    model: str
    sample_rate: int
    voices: tuple[VoiceInfo, ...]
    default_voice: str | None
    languages: tuple[str, ...] = ("auto",)
    capabilities: Capabilities = field(default_factory=Capabilities)
    extra: dict[str, Any] = field(default_factory=dict)

    def voice_ids(self) -> set[str]:
        return {v.id for v in self.voices}


@dataclass(frozen=True)
class EngineConfig:
    """Settings the server passes to an engine when it is created."""

    model_path: str | None = None
    """A local path, or a Hugging Face Hub id that engines resolve with
    :func:`flashtts.engine.hub.resolve_model_path`."""
    model_paths: tuple[str, ...] = ()
    """Every ``--model_path`` given, in order (``model_path`` is the first): engines that serve several
    models at once (Piper voices) read them all; the others take one."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of a Hub-named ``model_path``."""
    backend: str = "torch"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 8
    wait_timeout: float = 0.01
    seed: int | None = None
    defaults: GenerationOptions = field(default_factory=GenerationOptions)
    extra: dict[str, Any] = field(default_factory=dict)
    """Engine-specific options (``--engine_opt key=value``)."""
    voice_cache_mb: float = 0.0
    """Engines that load voices on first use (Piper): most MiB of voice weights loaded at once (0: no limit)."""
    voice_idle_timeout: float = 300.0
    """Seconds such a voice, other than the default, stays loaded unused (0: until the budget needs room)."""

    def all_model_paths(self) -> tuple[str, ...]:
        """``model_paths``, or ``model_path`` alone when only that was set."""
        return self.model_paths or ((self.model_path,) if self.model_path else ())


class CapabilityError(ValueError):
    """The request needs something this engine or checkpoint cannot do (answered with 400)."""


CANNOT = {
    "clone": "cannot clone voices from reference audio",
    "instructions": "does not follow instructions",
    "timestamps": "cannot report word timestamps",
    "voice_mixing": "cannot mix voices",
    "phonemes": "cannot take phonemes",
}
"""What an engine without the capability cannot do, as the error says it."""


def capability_error(info: EngineInfo, need: str, what: str | None = None) -> CapabilityError:
    """The one message for a request the engine cannot serve: what it lacks and what it supports
    (``what``: the request or field that needs it, said first)."""
    can = ", ".join(info.capabilities.names()) or "plain synthesis"
    return CapabilityError(f"{what + ': ' if what else ''}engine '{info.name}' ({info.model}) {CANNOT[need]}; "
                           f"it supports: {can}")


class Engine(abc.ABC):
    """Base class of every engine.

    Lifecycle: ``__init__`` (cheap) -> ``await start()`` (loads the model off the event loop)
    -> any number of concurrent ``synthesize`` streams -> ``await stop()``. With ``--idle_unload``,
    ``await unload()`` (no stream running) and ``await reload()`` may come between start and stop,
    any number of times.
    """

    name: ClassVar[str] = "engine"
    description: ClassVar[str] = ""
    many_models: ClassVar[bool] = False
    """Serves several ``--model_path`` at once (else more than one is refused at start)."""

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics

    @classmethod
    def static_capabilities(cls) -> Capabilities | None:
        """Capabilities known without loading a model (``None`` when they depend on the checkpoint)."""
        return None

    @classmethod
    def hub_patterns(cls, config: EngineConfig) -> list[str] | None:
        """The files of a Hugging Face Hub repository this engine reads (None: the whole repository)."""
        return None

    @classmethod
    def prefetch(cls, name: str, revision: str | None = None) -> str | None:
        """Fetch what ``name`` names (a model or voice of this engine's own catalogue) into the local
        cache for ``flashtts download``; where it is now, or None when the engine does not know such names."""
        return None

    @property
    @abc.abstractmethod
    def info(self) -> EngineInfo:
        """What the loaded model serves; valid after :meth:`start`."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Load the model and start workers; model work must not run on the event loop."""

    async def stop(self) -> None:  # noqa: B027  (optional hook: engines without workers keep the default)
        """Stop workers and free the model."""

    def ready(self) -> bool:
        """True while the engine can take requests (its workers are alive)."""
        return True

    def loaded(self) -> bool:
        """True while the model's weights are in memory (False between :meth:`unload` and :meth:`reload`)."""
        return True

    def can_unload(self) -> bool:
        """True when the engine implements :meth:`unload` and :meth:`reload` (``--idle_unload``)."""
        cls = type(self)
        return cls.unload is not Engine.unload and cls.reload is not Engine.reload

    async def unload(self) -> None:
        """Free the model's weights, threads and device memory, keeping :attr:`info` (voices, rate,
        capabilities) valid; called only while no ``synthesize`` stream runs. Engines that cannot
        keep this default."""
        raise NotImplementedError(f"engine '{self.name}' cannot unload its model")

    async def reload(self) -> None:
        """Load the weights again after :meth:`unload`, off the event loop."""
        raise NotImplementedError(f"engine '{self.name}' cannot reload its model")

    def validate(self, request: SynthesisRequest) -> None:
        """Raise :class:`CapabilityError` when the request needs what this engine cannot do."""
        info = self.info
        caps = info.capabilities
        if request.reference is not None and not caps.clone:
            raise capability_error(info, "clone")
        if request.instructions and not caps.follows_instructions:
            raise capability_error(info, "instructions")
        if request.timestamps and not caps.timestamps:
            raise capability_error(info, "timestamps")
        if request.voice is not None and request.voice not in info.voice_ids():
            raise CapabilityError(f"engine '{info.name}' has no built-in voice '{request.voice}'")
        if any(p.ipa is not None for p in request.pieces) and not caps.phonemes:
            raise capability_error(info, "phonemes")
        if request.mix and not caps.voice_mixing:
            raise capability_error(info, "voice_mixing")
        unknown = [v for v, _ in request.mix if v not in info.voice_ids()]
        if unknown:
            raise CapabilityError(f"engine '{info.name}' has no built-in voice '{unknown[0]}' to mix")
        langs = {lang.lower() for lang in info.languages}
        if request.language and request.language.lower() not in langs:
            raise CapabilityError(
                f"language '{request.language}' is not supported by engine '{info.name}'; "
                f"supported: {', '.join(info.languages)}"
            )

    @abc.abstractmethod
    def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[np.ndarray | TimedChunk, None]:
        """Stream float32 mono chunks in [-1, 1] at ``info.sample_rate`` for one request.

        With ``request.timestamps`` (only asked of engines with the ``timestamps`` capability)
        chunks may be :class:`TimedChunk` objects carrying the words they complete.

        Closing the iterator early (``aclose``) must stop the request's work.
        """

    async def phonemize(self, text: str, voice: str | None = None, language: str | None = None,
                        pieces: tuple[Piece, ...] = ()) -> str:
        """The phonemes the engine would speak for ``text`` (cut into ``pieces`` where pronunciations
        are given in IPA), sentences joined by a space (engines with the ``phonemes`` capability)."""
        raise capability_error(self.info, "phonemes")

    async def abort(self, request_id: str) -> None:  # noqa: B027  (optional hook, as stop)
        """Stop a request's work now (client gone); idempotent, unknown ids are ignored."""

    def stats(self) -> dict[str, Any]:
        """Engine-specific figures for ``/server_info``."""
        return {}
