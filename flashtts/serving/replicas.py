"""Engine replicas: ``--gpu 0,1 --workers N`` runs N engines spread over the listed devices.

Qwen3-TTS's FastAPI deployment starts N worker processes, each loading the model on one of
the listed GPUs (worker *i* on GPU ``i % len(gpus)``). flashtts keeps one process and runs N
engine replicas in it, replica *i* on ``cuda:<gpus[i % len(gpus)]>``; every synthesis segment
goes to the replica with the fewest segments in flight (ties: the one that served fewest).
Each replica batches its own concurrent requests, so one replica per GPU is usually right;
``--workers`` above the GPU count puts several replicas on one GPU (more memory, more
parallel batches). Without ``--gpu``, ``--workers N`` makes N replicas on ``--device``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import numpy as np

from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine, EngineInfo, SynthesisRequest, TimedChunk
from flashtts.engine.registry import create_engine
from flashtts.metrics import Metrics

log = logging.getLogger(__name__)


def replica_devices(config: ServerConfig) -> list[str]:
    """The device of each replica; one entry means a single engine."""
    if config.gpu:
        count = max(config.workers, len(config.gpu))
        return [f"cuda:{config.gpu[i % len(config.gpu)]}" for i in range(count)]
    return [config.engine_config.device] * max(1, config.workers)


def build_engine(config: ServerConfig, metrics: Metrics) -> Engine:
    """The configured engine: one instance, or replicas when ``gpu``/``workers`` ask for them."""
    devices = replica_devices(config)
    if len(devices) == 1:
        return create_engine(config.engine, replace(config.engine_config, device=devices[0]), metrics)
    replicas = [create_engine(config.engine, replace(config.engine_config, device=d), metrics) for d in devices]
    return ReplicaEngine(replicas, devices, metrics)


class ReplicaEngine(Engine):
    """Several engines of one kind behind the engine interface; segments go to the least busy."""

    name = "replicas"
    description = "engine replicas (--workers / --gpu)"

    def __init__(self, replicas: list[Engine], devices: list[str], metrics: Metrics) -> None:
        super().__init__(replicas[0].config, metrics)
        self.replicas = replicas
        self.devices = devices
        self._in_flight = [0] * len(replicas)
        self._served = [0] * len(replicas)
        self._owner: dict[str, int] = {}
        self._info: EngineInfo | None = None

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            info = self.replicas[0].info  # raises until started, like any engine
            self._info = replace(info, extra={**info.extra, "device": ",".join(dict.fromkeys(self.devices)),
                                              "replicas": len(self.replicas)})
        return self._info

    async def start(self) -> None:
        results = await asyncio.gather(*(r.start() for r in self.replicas), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]
        for i, device in enumerate(self.devices):
            log.info("engine replica %d using device: %s", i, device)

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.replicas), return_exceptions=True)

    def ready(self) -> bool:
        return all(r.ready() for r in self.replicas)

    def can_unload(self) -> bool:
        return all(r.can_unload() for r in self.replicas)

    async def unload(self) -> None:
        await asyncio.gather(*(r.unload() for r in self.replicas))

    async def reload(self) -> None:
        await asyncio.gather(*(r.reload() for r in self.replicas))

    def validate(self, request: SynthesisRequest) -> None:
        self.replicas[0].validate(request)

    def _pick(self) -> int:
        return min(range(len(self.replicas)), key=lambda i: (self._in_flight[i], self._served[i], i))

    async def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[np.ndarray | TimedChunk, None]:
        index = self._pick()
        self._in_flight[index] += 1
        self._served[index] += 1
        self._owner[request.request_id] = index
        finished = False
        try:
            async with aclosing(self.replicas[index].synthesize(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
            finished = True
        finally:
            self._in_flight[index] -= 1
            self._owner.pop(request.request_id, None)
            if not finished:
                await self.replicas[index].abort(request.request_id)

    async def abort(self, request_id: str) -> None:
        index = self._owner.get(request_id)
        if index is not None:
            await self.replicas[index].abort(request_id)

    def stats(self) -> dict[str, Any]:
        return {"replicas": [{"device": d, "in_flight": self._in_flight[i], "served": self._served[i], **r.stats()}
                             for i, (d, r) in enumerate(zip(self.devices, self.replicas, strict=False))]}
