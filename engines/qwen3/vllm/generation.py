"""The vLLM generation (``--backend vllm``): the talker in vLLM, the rest ours.

Per request: the prompt and :class:`~..sampling.Sampling` are built by the engine (same code as the
torch generation, on the model thread), the request goes straight to vLLM (:class:`.talker.VLLMTalker`;
vLLM's scheduler does the batching, flashtts does not batch again on top), and its frames feed
the runner's codec decoder through :class:`AudioDecoder`, which decodes the chunks that are due
across all streams in one batched call on the model thread. Closing the audio iterator (client
disconnect) closes the frame iterator, which aborts the request in vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import numpy as np

from ..generation import GenerationContext, Work, opt_float
from ..model import Qwen3Runner, Stream
from . import require_vllm
from .talker import VLLMTalker


class AudioDecoder:
    """Batches codec decoding across streams: the chunks due while a decode runs go together in the next."""

    def __init__(self, runner: Qwen3Runner, run_on_model_thread: Callable[..., Awaitable[Any]]) -> None:
        self.runner = runner
        self._run = run_on_model_thread
        self._pending: list[tuple[Stream, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.chunks = 0
        self.max_batch = 0

    async def decode(self, stream: Stream) -> np.ndarray:
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((stream, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            self.batches += 1
            self.chunks += len(batch)
            self.max_batch = max(self.max_batch, len(batch))
            try:
                audio = await self._run(self.runner.decode_audio, [s for s, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting stream gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), a in zip(batch, audio, strict=True):
                if not fut.done():  # a consumer that went away
                    fut.set_result(a)

    def stats(self) -> dict[str, int]:
        return {"codec_batches": self.batches, "codec_chunks": self.chunks, "codec_max_batch": self.max_batch}


class VLLMGeneration:
    """One vLLM talker for the engine; :meth:`run` turns a request into audio chunks.

    Engine options: ``kv_cache_gib`` (CPU: vLLM's KV cache size) and ``gpu_memory_utilization``.
    """

    def __init__(self, context: GenerationContext) -> None:
        runner = context.runner
        self.runner = runner
        self.worker = context.worker
        dtype = str(runner.dtype).removeprefix("torch.")
        self.talker = VLLMTalker(runner.path, max_num_seqs=context.batch_size, dtype=dtype,
                                 kv_cache_gib=opt_float(context.options, "kv_cache_gib"),
                                 gpu_memory_utilization=opt_float(context.options, "gpu_memory_utilization"))
        self.decoder = AudioDecoder(runner, context.worker.run)
        self.started = False

    @classmethod
    def require(cls) -> None:
        """vLLM must import (else: the command that installs it)."""
        require_vllm()

    async def start(self) -> None:
        await self.talker.start()
        self.started = True

    def ready(self) -> bool:
        """Started, and vLLM's engine core has not died."""
        return self.started and not getattr(self.talker.engine, "errored", False)

    async def stop(self) -> None:
        self.started = False
        await self.talker.close()

    async def run(self, work: Work) -> AsyncGenerator[np.ndarray, None]:
        """Audio chunks of one request; its stream's ``frames`` fill as it goes (no batching on top of vLLM's)."""
        r = self.runner
        stream = work.stream = await self.worker.run(work.prepare)
        p = stream.prompt
        frames = self.talker.frames(p.embeds, p.trailing, p.tts_pad, stream.sampling, request_id=work.id)
        async with contextlib.aclosing(frames):  # closing early aborts the request in vLLM
            async for frame in frames:
                stream.frames.append(frame)
                if r.ready_to_decode(stream):
                    yield await self.decoder.decode(stream)
        stream.done = True
        if r.ready_to_decode(stream):
            yield await self.decoder.decode(stream)

    async def abort(self, request_id: str) -> None:
        if self.talker.engine is not None:
            await self.talker.engine.abort(request_id)

    def call(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return self.worker.run(fn, *args)

    def stats(self) -> dict[str, Any]:
        return {**self.talker.stats(), **self.decoder.stats()}
