"""The Qwen3 engine's generation path when ``--backend vllm``: the talker in vLLM, the rest ours.

Per request: the prompt is built by the engine's own runner (same code as the torch backend, on
the model thread), the request goes straight to vLLM (:class:`~flashtts_engines.qwen3.vllm.talker.VLLMTalker`;
vLLM's scheduler does the batching, flashtts does not batch again on top), and its frames feed
the runner's codec decoder through :class:`AudioDecoder`, which decodes the chunks that are due
across all streams in one batched call on the model thread. Closing the audio iterator (client
disconnect) closes the frame iterator, which aborts the request in vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from .talker import TalkerOptions, VLLMTalker


def talker_options(sampling) -> TalkerOptions:
    """The engine's :class:`~engines.qwen3.model.Sampling` as vLLM talker options.

    The reference loop computes a frame for every codebook-0 token but the last, so ``max_frames``
    frames need ``max_frames + 1`` tokens; fixed-length requests never stop at end-of-speech.
    """
    s = sampling
    return TalkerOptions(
        max_new_tokens=int(s.max_frames) + 1, do_sample=s.do_sample, temperature=s.temperature, top_k=s.top_k,
        top_p=s.top_p, repetition_penalty=s.repetition_penalty, sub_do_sample=s.sub_do_sample,
        sub_temperature=s.sub_temperature, sub_top_k=s.sub_top_k, sub_top_p=s.sub_top_p, seed=s.seed,
        ignore_eos=bool(s.fixed_frames),
    )


class AudioDecoder:
    """Batches codec decoding across streams: the chunks due while a decode runs go together in the next."""

    def __init__(self, runner, run_on_model_thread: Callable[..., Any]) -> None:
        self.runner = runner
        self._run = run_on_model_thread
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.chunks = 0
        self.max_batch = 0

    async def decode(self, stream) -> np.ndarray:
        fut = asyncio.get_running_loop().create_future()
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
            for (_, fut), a in zip(batch, audio):
                if not fut.done():  # a consumer that went away
                    fut.set_result(a)

    def stats(self) -> dict[str, int]:
        return {"codec_batches": self.batches, "codec_chunks": self.chunks, "codec_max_batch": self.max_batch}


class VLLMGeneration:
    """One vLLM talker for the engine; :meth:`synthesize` turns a prepared stream into audio chunks."""

    def __init__(self, runner, run_on_model_thread: Callable[..., Any], *, max_num_seqs: int,
                 kv_cache_gib: float | None = None, gpu_memory_utilization: float | None = None) -> None:
        self.runner = runner
        dtype = str(runner.dtype).removeprefix("torch.")
        self.talker = VLLMTalker(runner.path, max_num_seqs=max_num_seqs, dtype=dtype, kv_cache_gib=kv_cache_gib,
                                 gpu_memory_utilization=gpu_memory_utilization)
        self.decoder = AudioDecoder(runner, run_on_model_thread)
        self.started = False

    async def start(self) -> None:
        await self.talker.start()
        self.started = True

    @property
    def ready(self) -> bool:
        """Started, and vLLM's engine core has not died."""
        return self.started and not getattr(self.talker.engine, "errored", False)

    async def close(self) -> None:
        self.started = False
        await self.talker.close()

    async def synthesize(self, stream) -> AsyncIterator[np.ndarray]:
        """Audio chunks of ``stream`` (a :class:`~engines.qwen3.model.Stream`); its ``frames`` fill as it goes."""
        r = self.runner
        p = stream.prompt
        frames = self.talker.frames(p.embeds, p.trailing, p.tts_pad, talker_options(stream.sampling),
                                    request_id=stream.id)
        async with contextlib.aclosing(frames):
            async for frame in frames:
                stream.frames.append(frame)
                if r.ready_to_decode(stream):
                    yield await self.decoder.decode(stream)
        stream.done = True
        if r.ready_to_decode(stream):
            yield await self.decoder.decode(stream)

    def stats(self) -> dict[str, Any]:
        return {**self.talker.stats(), **self.decoder.stats()}

    async def abort(self, request_id: str) -> None:
        if self.talker.engine is not None:
            await self.talker.engine.abort(request_id)
