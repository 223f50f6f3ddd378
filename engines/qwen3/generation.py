"""How the Qwen3 engine turns prepared requests into audio: a :class:`Generation`, chosen once at start.

The engine owns what every generation shares (the loaded checkpoint's prompts, clone prompts,
codec decoder; validation; caching) and hands each request to its generation as a :class:`Work`:
an id and a function that builds the request's :class:`~.model.Stream` (prompt + sampling) on the
model thread. The generation produces the frames, decodes them to audio chunks with the runner's
codec decoder, and yields the chunks.

Generations are found by name (``--backend``) in :data:`GENERATIONS` as ``module:Class`` strings,
so this package imports none of them until one is chosen (the vLLM part imports this package, not
the other way round). A new generation (e.g. a static-shape decode step) is a class with the
methods of :class:`Generation` and one line in :data:`GENERATIONS`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from flashtts.engine.worker import ModelWorker
from flashtts.metrics import Metrics

from .model import Qwen3Runner, Stream

GENERATIONS: dict[str, str] = {
    "torch": "flashtts_engines.qwen3.torch_generation:TorchGeneration",
    "static": "flashtts_engines.qwen3.static_step:StaticGeneration",
    "vllm": "flashtts_engines.qwen3.vllm.generation:VLLMGeneration",
}


@dataclass(eq=False)
class Work:
    """One request for a generation: its id and how to build its stream (called on the model thread)."""

    id: str
    prepare: Callable[[], Stream]
    stream: Stream | None = None
    """Set by the generation once prepared; its ``frames`` are complete when the audio iterator ends."""


@dataclass(frozen=True)
class GenerationContext:
    """What the engine gives its generation."""

    runner: Qwen3Runner
    worker: ModelWorker
    metrics: Metrics
    batch_size: int
    wait_timeout: float
    options: Mapping[str, Any] = field(default_factory=dict)
    """The engine options (``--engine_opt``); each generation reads its own."""


class Generation(Protocol):
    """A way to generate: the torch decode loop in this process, or the talker in vLLM."""

    def __init__(self, context: GenerationContext) -> None: ...

    @classmethod
    def require(cls) -> None:
        """Raise with the fix when this generation cannot run here (checked before the model loads)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop; requests still running fail."""

    def ready(self) -> bool:
        """True while requests can be run."""

    def run(self, work: Work) -> AsyncGenerator[np.ndarray, None]:
        """Audio chunks of one request; closing the iterator early stops the request's work."""

    async def abort(self, request_id: str) -> None:
        """Stop a request's work now (idempotent; unknown ids are ignored)."""

    def call(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        """Run other model-thread work (clone prompts) without disturbing the generation."""

    def stats(self) -> dict[str, Any]: ...


def generation_class(name: str) -> type[Generation]:
    """The generation registered as ``name`` (imports it)."""
    if name not in GENERATIONS:
        raise ValueError(f"unknown Qwen3 backend {name!r} (available: {', '.join(GENERATIONS)})")
    module, _, attr = GENERATIONS[name].partition(":")
    cls: type[Generation] = getattr(importlib.import_module(module), attr)
    return cls


def opt_int(options: Mapping[str, Any], key: str, default: int | None) -> int | None:
    """An integer engine option (``None`` or ``""``: the default)."""
    v = options.get(key)
    return default if v is None or v == "" else int(v)


def opt_float(options: Mapping[str, Any], key: str) -> float | None:
    """A float engine option, or ``None``."""
    v = options.get(key)
    return None if v is None or v == "" else float(v)
