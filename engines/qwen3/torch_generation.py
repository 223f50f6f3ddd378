"""The torch generation (``--backend torch``): continuous batching of the torch decode loop in this process.

A :class:`~flashtts.engine.continuous.ContinuousBatcher` drives it on the model thread: arrivals
are prepared and prefilled together, then every decode step runs one talker step for all active
streams, the 15 code-predictor steps batched across them (:class:`~.torch_decode.TorchDecode`), and
one batched codec decode for the streams whose next chunk is due.

The decode loop is a :class:`DecodeLoop`: a generation with another loop (e.g. a static-shape step)
subclasses :class:`TorchGeneration` with its own ``decode_loop`` and gets the batching, the chunking
and the cancellation as they are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from flashtts.engine.continuous import ContinuousBatcher

from .generation import GenerationContext, Work
from .model import Qwen3Runner, Stream
from .torch_decode import TorchDecode

log = logging.getLogger(__name__)
_END = object()


@dataclass(eq=False)
class _Job:
    id: str
    work: Work
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    finished: bool = False

    @property
    def stream(self) -> Stream | None:
        return self.work.stream

    def put(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's loop is gone
            pass


class DecodeLoop(Protocol):
    """Frames for the streams of one batch, rows in the order of the batch (model thread)."""

    def __init__(self, runner: Qwen3Runner, max_rows: int) -> None: ...

    def prefill(self, streams: list[Stream]) -> None:
        """Add ``streams`` as the last rows and pick their first codebook-0 tokens."""

    def step(self, streams: list[Stream]) -> None:
        """One frame for every row (appended to ``stream.frames``; ``stream.done`` when it ends)."""

    def remove(self, row: int) -> int | None:
        """Drop ``row``; returns the former index of the row moved into its place, if any."""

    def stats(self) -> dict[str, Any]: ...


def drive(decode: DecodeLoop, streams: list[Stream]) -> None:
    """Run ``streams`` to their end through ``decode`` alone, rows leaving as they finish (as the batcher
    releases them): self-checks and benchmarks of a decode loop without the serving machinery."""
    decode.prefill(streams)
    active = list(streams)
    while active:
        decode.step(active)
        for s in [s for s in active if s.done]:
            row = active.index(s)
            moved = decode.remove(row)
            if moved is not None:
                active[row] = active[moved]
                active.pop(moved)
            else:
                active.pop(row)


class TorchGeneration:
    """The talker, code predictor and codec decoder in PyTorch, batched continuously across requests."""

    decode_loop: type[DecodeLoop] = TorchDecode

    def __init__(self, context: GenerationContext) -> None:
        self.runner = context.runner
        self.decode = self.make_decode(context)
        self.batcher: ContinuousBatcher[_Job] = ContinuousBatcher(
            self, context.worker, context.metrics, batch_size=context.batch_size,
            wait_timeout=context.wait_timeout, name="qwen3")

    def make_decode(self, context: GenerationContext) -> DecodeLoop:
        """The decode loop of this generation (a subclass may build it with its engine options)."""
        return self.decode_loop(context.runner, max_rows=context.batch_size)

    @classmethod
    def require(cls) -> None:
        """Nothing beyond the engine's own requirements."""

    async def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()

    def ready(self) -> bool:
        # a batching loop that died is started again by the next request
        return self.batcher.alive or not self.batcher.stopped

    async def run(self, work: Work) -> AsyncGenerator[np.ndarray, None]:
        job = _Job(work.id, work, asyncio.get_running_loop(), asyncio.Queue())
        self.batcher.submit(job)
        done = False
        try:
            while True:
                item = await job.queue.get()
                if item is _END:
                    done = True
                    return
                if isinstance(item, BaseException):
                    done = True
                    raise item
                yield item
        finally:
            if not done:
                self.batcher.abort(job.id)

    async def abort(self, request_id: str) -> None:
        self.batcher.abort(request_id)

    def call(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return asyncio.wrap_future(self.batcher.call(fn, *args))

    def stats(self) -> dict[str, Any]:
        return {**self.batcher.snapshot(), **self.decode.stats()}

    # ---- BatchModel (model thread) -------------------------------------------------------------
    def admit(self, jobs: list[_Job]) -> list[_Job]:
        ok: list[_Job] = []
        for job in jobs:
            try:
                job.work.stream = job.work.prepare()
                ok.append(job)
            except Exception as exc:  # noqa: BLE001 - fails this request only
                log.exception("qwen3: could not prepare request %s", job.id)
                self.fail(job, exc)
        if ok:
            self.decode.prefill([self._stream(j) for j in ok])
            self._emit(ok)
        return ok

    def step(self, active: list[_Job]) -> None:
        self.decode.step([self._stream(j) for j in active])
        self._emit(active)

    @staticmethod
    def _stream(job: _Job) -> Stream:
        assert job.stream is not None, "job not admitted"
        return job.stream

    def _emit(self, jobs: list[_Job]) -> None:
        r = self.runner
        due = [j for j in jobs if r.ready_to_decode(self._stream(j))]
        if due:
            for job, audio in zip(due, r.decode_audio([self._stream(j) for j in due]), strict=True):
                job.put(audio)
        for job in jobs:
            stream = self._stream(job)
            if stream.done and not job.finished and not r.ready_to_decode(stream):
                job.finished = True
                job.put(_END)

    def finished(self, job: _Job) -> bool:
        return job.stream is None or job.stream.done

    def release(self, job: _Job, active: list[_Job]) -> None:
        row = active.index(job)
        moved = self.decode.remove(row)
        if moved is not None:
            active[row] = active[moved]
            active.pop(moved)
        else:
            active.pop(row)

    def fail(self, job: _Job, exc: BaseException) -> None:
        if job.finished:
            return
        job.finished = True
        job.put(exc)
