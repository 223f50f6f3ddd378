"""The SDK engines import: the :class:`Engine` interface and what it takes and gives (requests, options,
capabilities), with the registry of engines found by entry point (:mod:`.registry`), the Hub
(:mod:`.hub`), the model worker thread and the batchers (:mod:`.worker`, :mod:`.microbatch`,
:mod:`.continuous`) and idle unloading (:mod:`.idle_unload`)."""

from flashtts.engine.base import (
    CANNOT,
    Capabilities,
    CapabilityError,
    Engine,
    EngineConfig,
    EngineInfo,
    GenerationOptions,
    Piece,
    ReferenceAudio,
    SynthesisRequest,
    TimedChunk,
    VoiceInfo,
    WordTiming,
    capability_error,
)

__all__ = ["CANNOT", "Capabilities", "CapabilityError", "Engine", "EngineConfig", "EngineInfo", "GenerationOptions",
           "Piece", "ReferenceAudio", "SynthesisRequest", "TimedChunk", "VoiceInfo", "WordTiming", "capability_error"]
